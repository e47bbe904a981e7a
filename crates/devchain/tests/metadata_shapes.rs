//! The devchain's metadata against the real runtime's (finney spec 393, in ../shared/fixtures):
//! every pallet, call, event, error, storage item, transaction extension and runtime API it
//! declares exists in the real one with the same index, names, hashers and type shapes.

use std::collections::HashSet;

use frame_metadata::{v15::RuntimeMetadataV15, RuntimeMetadata, RuntimeMetadataPrefixed};
use parity_scale_codec::Decode;
use scale_info::{form::PortableForm, PortableRegistry, TypeDef};

fn decode(bytes: &[u8]) -> RuntimeMetadataV15 {
    let prefixed = RuntimeMetadataPrefixed::decode(&mut &bytes[..]).expect("metadata decodes");
    match prefixed.1 {
        RuntimeMetadata::V15(metadata) => metadata,
        _ => panic!("not V15"),
    }
}

fn real() -> RuntimeMetadataV15 {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/subtensor/metadata/finney_spec393_v15.scale");
    decode(&std::fs::read(path).unwrap_or_else(|e| panic!("the spec-393 fixture at {path}: {e}")))
}

/// Compares the shape of type `a` in `ra` with type `b` in `rb`: our variants must exist in
/// theirs with the same index and field shapes; composites, sequences, arrays, tuples,
/// compacts and primitives must match; named types must have the same path.
struct Shapes<'a> {
    ours: &'a PortableRegistry,
    theirs: &'a PortableRegistry,
    seen: HashSet<(u32, u32)>,
    problems: Vec<String>,
}

impl Shapes<'_> {
    fn same(&mut self, a: u32, b: u32, at: &str) {
        if !self.seen.insert((a, b)) {
            return;
        }
        let ta = self.ours.resolve(a).expect("our type");
        let tb = self.theirs.resolve(b).expect("their type");
        let pa = ta.path.segments.join("::");
        let pb = tb.path.segments.join("::");
        // `Cow<T>` and `T` encode alike; the runtime wraps some strings and lists in `Cow`.
        if pb == "Cow" && pa != "Cow" {
            if let TypeDef::Composite(y) = &tb.type_def {
                if let [field] = y.fields.as_slice() {
                    return self.same(a, field.ty.id, at);
                }
            }
        }
        if pa != pb {
            self.problems.push(format!("{at}: path {pa} vs {pb}"));
            return;
        }
        match (&ta.type_def, &tb.type_def) {
            (TypeDef::Composite(x), TypeDef::Composite(y)) => {
                if x.fields.len() != y.fields.len() {
                    self.problems.push(format!("{at} ({pa}): {} fields vs {}", x.fields.len(), y.fields.len()));
                    return;
                }
                for (fx, fy) in x.fields.iter().zip(&y.fields) {
                    if fx.name != fy.name {
                        self.problems.push(format!("{at} ({pa}): field {:?} vs {:?}", fx.name, fy.name));
                    }
                    let name = fx.name.clone().unwrap_or_default();
                    self.same(fx.ty.id, fy.ty.id, &format!("{at}.{name}"));
                }
            }
            (TypeDef::Variant(x), TypeDef::Variant(y)) => {
                for vx in &x.variants {
                    let Some(vy) = y.variants.iter().find(|v| v.name == vx.name) else {
                        self.problems.push(format!("{at} ({pa}): no variant {}", vx.name));
                        continue;
                    };
                    if vx.index != vy.index || vx.fields.len() != vy.fields.len() {
                        self.problems.push(format!("{at} ({pa}): variant {} differs", vx.name));
                        continue;
                    }
                    for (fx, fy) in vx.fields.iter().zip(&vy.fields) {
                        if fx.name != fy.name {
                            self.problems.push(format!("{at}::{}: field {:?} vs {:?}", vx.name, fx.name, fy.name));
                        }
                        self.same(fx.ty.id, fy.ty.id, &format!("{at}::{}", vx.name));
                    }
                }
            }
            (TypeDef::Sequence(x), TypeDef::Sequence(y)) => self.same(x.type_param.id, y.type_param.id, at),
            (TypeDef::Array(x), TypeDef::Array(y)) if x.len == y.len => self.same(x.type_param.id, y.type_param.id, at),
            (TypeDef::Compact(x), TypeDef::Compact(y)) => self.same(x.type_param.id, y.type_param.id, at),
            (TypeDef::Tuple(x), TypeDef::Tuple(y)) if x.fields.len() == y.fields.len() => {
                for (fx, fy) in x.fields.iter().zip(&y.fields) {
                    self.same(fx.id, fy.id, at);
                }
            }
            (TypeDef::Primitive(x), TypeDef::Primitive(y)) if x == y => {}
            (x, y) => self.problems.push(format!("{at} ({pa}): {} vs {}", kind(x), kind(y))),
        }
    }
}

fn kind(def: &TypeDef<PortableForm>) -> &'static str {
    match def {
        TypeDef::Composite(_) => "composite",
        TypeDef::Variant(_) => "variant",
        TypeDef::Sequence(_) => "sequence",
        TypeDef::Array(_) => "array",
        TypeDef::Tuple(_) => "tuple",
        TypeDef::Primitive(_) => "primitive",
        TypeDef::Compact(_) => "compact",
        TypeDef::BitSequence(_) => "bits",
    }
}

/// Storage items of spec 425 that spec 393 does not have yet.
const NEWER_THAN_393: [&str; 4] = ["SubnetEpochIndex", "LastEpochBlock", "PendingEpochAt", "SubnetEpochConsensus"];

#[test]
fn the_devchain_metadata_has_the_real_runtimes_shapes() {
    let ours = decode(&neuronet_devchain::metadata::encoded(250));
    let theirs = real();
    let mut shapes = Shapes { ours: &ours.types, theirs: &theirs.types, seen: HashSet::new(), problems: Vec::new() };

    for pallet in &ours.pallets {
        let Some(real) = theirs.pallets.iter().find(|p| p.name == pallet.name) else {
            shapes.problems.push(format!("no pallet {}", pallet.name));
            continue;
        };
        assert_eq!(pallet.index, real.index, "{}'s index", pallet.name);
        for (mine, theirs, what) in [
            (pallet.calls.as_ref().map(|c| c.ty.id), real.calls.as_ref().map(|c| c.ty.id), "calls"),
            (pallet.event.as_ref().map(|c| c.ty.id), real.event.as_ref().map(|c| c.ty.id), "events"),
            (pallet.error.as_ref().map(|c| c.ty.id), real.error.as_ref().map(|c| c.ty.id), "errors"),
        ] {
            if let Some(mine) = mine {
                let theirs = theirs.unwrap_or_else(|| panic!("{} has no {what}", pallet.name));
                shapes.same(mine, theirs, &format!("{}.{what}", pallet.name));
            }
        }
        for constant in &pallet.constants {
            let Some(real) = real.constants.iter().find(|c| c.name == constant.name) else {
                shapes.problems.push(format!("no constant {}.{}", pallet.name, constant.name));
                continue;
            };
            shapes.same(constant.ty.id, real.ty.id, &format!("{}.{}", pallet.name, constant.name));
        }
        let Some(storage) = &pallet.storage else { continue };
        let real_storage = real.storage.as_ref().expect("the real pallet has storage");
        for entry in &storage.entries {
            let Some(real) = real_storage.entries.iter().find(|e| e.name == entry.name) else {
                if !NEWER_THAN_393.contains(&entry.name.as_str()) {
                    shapes.problems.push(format!("no storage {}.{}", pallet.name, entry.name));
                }
                continue;
            };
            let at = format!("{}.{}", pallet.name, entry.name);
            if entry.modifier != real.modifier {
                shapes.problems.push(format!("{at}: modifier {:?} vs {:?}", entry.modifier, real.modifier));
            }
            use frame_metadata::v15::StorageEntryType::{Map, Plain};
            match (&entry.ty, &real.ty) {
                (Plain(a), Plain(b)) => shapes.same(a.id, b.id, &at),
                (Map { hashers: ha, key: ka, value: va }, Map { hashers: hb, key: kb, value: vb }) => {
                    if ha != hb {
                        shapes.problems.push(format!("{at}: hashers {ha:?} vs {hb:?}"));
                    }
                    shapes.same(ka.id, kb.id, &format!("{at} key"));
                    shapes.same(va.id, vb.id, &format!("{at} value"));
                }
                _ => shapes.problems.push(format!("{at}: plain vs map")),
            }
        }
    }

    // Every SubtensorModule error, in order: a module error index names the same error.
    let errors = |m: &RuntimeMetadataV15| {
        let pallet = m.pallets.iter().find(|p| p.name == "SubtensorModule").unwrap();
        match &m.types.resolve(pallet.error.as_ref().unwrap().ty.id).unwrap().type_def {
            TypeDef::Variant(v) => v.variants.iter().map(|v| (v.index, v.name.clone())).collect::<Vec<_>>(),
            _ => unreachable!(),
        }
    };
    assert_eq!(errors(&ours), errors(&theirs));

    // The transaction extensions, in order, with the same explicit and implicit data.
    let ids =
        |m: &RuntimeMetadataV15| m.extrinsic.signed_extensions.iter().map(|e| e.identifier.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&ours), ids(&theirs));
    for (a, b) in ours.extrinsic.signed_extensions.iter().zip(&theirs.extrinsic.signed_extensions) {
        shapes.same(a.ty.id, b.ty.id, &a.identifier);
        shapes.same(a.additional_signed.id, b.additional_signed.id, &format!("{} implicit", a.identifier));
    }
    shapes.same(ours.extrinsic.address_ty.id, theirs.extrinsic.address_ty.id, "address");
    shapes.same(ours.extrinsic.signature_ty.id, theirs.extrinsic.signature_ty.id, "signature");

    // Runtime APIs: same inputs and outputs.
    for api in &ours.apis {
        let real = theirs.apis.iter().find(|a| a.name == api.name).unwrap_or_else(|| panic!("no API {}", api.name));
        for method in &api.methods {
            let Some(real) = real.methods.iter().find(|m| m.name == method.name) else {
                shapes.problems.push(format!("no method {}_{}", api.name, method.name));
                continue;
            };
            let at = format!("{}_{}", api.name, method.name);
            assert_eq!(method.inputs.len(), real.inputs.len(), "{at} inputs");
            for (a, b) in method.inputs.iter().zip(&real.inputs) {
                assert_eq!(a.name, b.name, "{at} input names");
                shapes.same(a.ty.id, b.ty.id, &format!("{at}({})", a.name));
            }
            shapes.same(method.output.id, real.output.id, &format!("{at} output"));
        }
    }

    assert!(shapes.problems.is_empty(), "differences from the real runtime:\n{}", shapes.problems.join("\n"));
}
