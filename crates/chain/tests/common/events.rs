//! `System.Events` as a block holds them, encoded against real metadata: what the recorded node
//! answers about a transaction it included.
#![allow(dead_code)]

use subxt::dynamic::Value;
use subxt::ext::scale_encode::EncodeAsType;
use subxt::Metadata;

fn dispatch_info() -> Value {
    Value::named_composite([
        ("weight", Value::named_composite([("ref_time", Value::u128(1)), ("proof_size", Value::u128(0))])),
        ("class", Value::unnamed_variant("Normal", [])),
        ("pays_fee", Value::unnamed_variant("No", [])),
    ])
}

fn encode(metadata: &Metadata, event: Value) -> Vec<u8> {
    let record = Value::named_composite([
        ("phase", Value::unnamed_variant("ApplyExtrinsic", [Value::u128(0)])),
        ("event", event),
        ("topics", Value::unnamed_composite([])),
    ]);
    let events_type =
        metadata.pallet_by_name("System").unwrap().storage().unwrap().entry_by_name("Events").unwrap().value_ty();
    Value::unnamed_composite([record]).encode_as_type(events_type, metadata.types()).unwrap()
}

/// The first extrinsic of the block succeeded.
pub fn success(metadata: &Metadata) -> Vec<u8> {
    let event = Value::unnamed_variant(
        "System",
        [Value::named_variant("ExtrinsicSuccess", [("dispatch_info", dispatch_info())])],
    );
    encode(metadata, event)
}

/// The first extrinsic of the block failed with `pallet`'s error `name`.
pub fn module_error(metadata: &Metadata, pallet: &str, name: &str) -> Vec<u8> {
    let pallet = metadata.pallet_by_name(pallet).unwrap();
    let index = pallet.error_variants().unwrap().iter().find(|v| v.name == name).unwrap().index;
    let error = Value::unnamed_variant(
        "Module",
        [Value::named_composite([
            ("index", Value::u128(u128::from(pallet.error_index()))),
            ("error", Value::from_bytes([index, 0, 0, 0])),
        ])],
    );
    let event = Value::unnamed_variant(
        "System",
        [Value::named_variant("ExtrinsicFailed", [("dispatch_error", error), ("dispatch_info", dispatch_info())])],
    );
    encode(metadata, event)
}
