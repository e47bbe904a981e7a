//! The online client: a connection to a subtensor node over WebSocket (reconnecting with
//! backoff), reading at the latest finalized block with the metadata that block's runtime
//! serves, so a runtime upgrade is followed without a restart.

use crate::account::AccountId;
use crate::calls::{self, Call};
use crate::error::{Error, Result};
use crate::metagraph::Metagraph;
use crate::neuron::NeuronCertificate;
use crate::timelock::{self, EpochSchedule, WeightsTlockPayload};
use crate::weights::NormalisedWeights;
use neuronet_synapse::{CryptoType, Keypair};
use parity_scale_codec::{DecodeAll, Encode};
use std::collections::HashMap;
use std::time::Duration;
use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::config::RpcConfigFor;
use subxt::dynamic::Value;
use subxt::error::{DispatchError, TransactionEventsError};
use subxt::rpcs::client::reconnecting_rpc_client::{ExponentialBackoff, RpcClient as ReconnectingClient};
use subxt::rpcs::client::RpcClient;
use subxt::rpcs::LegacyRpcMethods;
use subxt::tx::{Signer, TransactionStatus};
use subxt::utils::{AccountId32, MultiSignature};
use subxt::{OnlineClient, SubstrateConfig};

/// Bittensor's main network.
pub const FINNEY_URL: &str = "wss://entrypoint-finney.opentensor.ai:443";
/// Bittensor's test network.
pub const TEST_URL: &str = "wss://test.finney.opentensor.ai:443";
/// A node (or `neuronet devchain`) on this machine.
pub const LOCAL_URL: &str = "ws://127.0.0.1:9944";

/// Bittensor's block time.
const DEFAULT_BLOCK_TIME_MS: u64 = 12_000;

/// The most certificates read for one subnet (a subnet holds at most a few thousand neurons).
const MAX_CERTIFICATES: usize = 65_536;

/// How many blocks a transaction stays valid for by default (a mortal era, rounded by the
/// chain's rules).
const DEFAULT_MORTALITY: u64 = 64;

/// How long the watcher waits for a finalized block before it counts the subscription as stalled
/// and subscribes again, by default (finney finalizes a block every 12 s or so).
const DEFAULT_WATCH_STALL: Duration = Duration::from_secs(120);

/// The URL of a network given by preset (`finney`, `test`, `local`) or as a `ws://` / `wss://`
/// URL, as btcli's `--subtensor.network` takes it.
pub fn network_url(network: &str) -> Result<String> {
    match network {
        "finney" => Ok(FINNEY_URL.to_owned()),
        "test" => Ok(TEST_URL.to_owned()),
        "local" => Ok(LOCAL_URL.to_owned()),
        url if url.starts_with("ws://") || url.starts_with("wss://") => Ok(url.to_owned()),
        other => Err(Error::Invalid(format!(
            "{other:?} is neither a network (finney, test, local) nor a ws:// or wss:// URL"
        ))),
    }
}

fn rpc(error: impl std::fmt::Display) -> Error {
    Error::Rpc(error.to_string())
}

/// A node's URL fit to print: without credentials (user info, a query string such as
/// `?apikey=...`), which providers' URLs often carry.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    if scheme.is_empty() {
        rest.to_owned()
    } else {
        format!("{scheme}://{rest}")
    }
}

/// A connection to a subtensor node.
///
/// ```no_run
/// # async fn run() -> neuronet_chain::Result<()> {
/// let chain = neuronet_chain::Chain::connect("finney").await?;
/// let metagraph = chain.metagraph(1).await?;
/// println!("{} neurons at block {}", metagraph.neurons.len(), metagraph.block);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Chain {
    api: OnlineClient<SubstrateConfig>,
    rpc: RpcClient,
    url: String,
    /// The chain's block time, when set by hand (otherwise read from the runtime).
    block_time: Option<Duration>,
    /// How long a read may take, reconnections included.
    timeout: Duration,
    /// How long a transaction may take to be included.
    inclusion_timeout: Duration,
    /// Blocks a transaction stays valid for.
    pub(crate) mortality: u64,
    /// How long the watcher waits for a block before it subscribes again.
    pub(crate) watch_stall: Duration,
    /// Held from reading an account's next nonce until its transaction is in the pool, so that
    /// two sent at once never share a nonce.
    submitting: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("url", &redacted(&self.url)).finish_non_exhaustive()
    }
}

/// A transaction the chain included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Included {
    /// The block it was included in.
    pub block_hash: [u8; 32],
    /// The transaction's hash.
    pub extrinsic_hash: [u8; 32],
}

/// How [`Chain::set_weights`] put the weights on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsSubmitted {
    /// Set directly (commit-reveal is off).
    Set(Included),
    /// Committed, timelocked: the chain reveals them itself once drand publishes `reveal_round`.
    Committed {
        /// The commit's inclusion.
        included: Included,
        /// The drand quicknet round that opens it.
        reveal_round: u64,
    },
}

/// What a validator reads about a subnet before it sets weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hyperparameters {
    /// Blocks per epoch.
    pub tempo: u16,
    /// Whether weights must be committed and revealed.
    pub commit_reveal_enabled: bool,
    /// Epochs between a commit and its reveal.
    pub reveal_period_epochs: u64,
    /// Blocks between two weight updates of one neuron.
    pub weights_rate_limit: u64,
    /// The lowest version key weights may carry (0: any).
    pub weights_version_key: u64,
    /// Blocks between two axon updates of one neuron.
    pub serving_rate_limit: u64,
}

impl Chain {
    /// Connects to `network` (a preset or a URL, see [`network_url`]) within 30 seconds.
    pub async fn connect(network: &str) -> Result<Self> {
        Self::connect_within(network, Duration::from_secs(30)).await
    }

    /// Connects within `timeout` (the WebSocket and the first reads of genesis, runtime version
    /// and metadata). A connection lost later is made again with exponential backoff (up to 10 s
    /// between tries); a call made meanwhile waits for it up to the call's deadline
    /// ([`with_timeout`](Self::with_timeout), 60 s by default) and then fails.
    pub async fn connect_within(network: &str, timeout: Duration) -> Result<Self> {
        let url = network_url(network)?;
        let shown = redacted(&url);
        let connecting = async {
            let backoff = ExponentialBackoff::from_millis(50).max_delay(Duration::from_secs(10));
            let client = ReconnectingClient::builder()
                .retry_policy(backoff)
                .build(url.clone())
                .await
                .map_err(|e| Error::Rpc(format!("connecting to {shown}: {e}")))?;
            let rpc = RpcClient::new(client);
            let api = OnlineClient::<SubstrateConfig>::from_rpc_client(rpc.clone())
                .await
                .map_err(|e| Error::Rpc(format!("{shown}: {e}")))?;
            Ok::<_, Error>((api, rpc))
        };
        let (api, rpc) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| Error::Rpc(format!("connecting to {shown} timed out after {timeout:?}")))??;
        Ok(Chain {
            api,
            rpc,
            url,
            block_time: None,
            timeout: Duration::from_secs(60),
            inclusion_timeout: Duration::from_secs(300),
            mortality: DEFAULT_MORTALITY,
            watch_stall: DEFAULT_WATCH_STALL,
            submitting: Default::default(),
        })
    }

    /// With the chain's block time, which timelocked commits aim their reveal round by; by
    /// default it is read from the runtime (twice `Timestamp::MinimumPeriod`: 12 s on finney,
    /// 250 ms on a fast-blocks local chain).
    pub fn with_block_time(mut self, block_time: Duration) -> Self {
        self.block_time = Some(block_time.max(Duration::from_millis(1)));
        self
    }

    /// With deadlines: `reads` for each read (reconnections included; default 60 s) and
    /// `inclusion` for a transaction to be included in a block (default 5 minutes).
    pub fn with_timeout(mut self, reads: Duration, inclusion: Duration) -> Self {
        self.timeout = reads;
        self.inclusion_timeout = inclusion;
        self
    }

    /// With transactions valid for `blocks` blocks (a mortal era; default 64).
    pub fn with_mortality(mut self, blocks: u64) -> Self {
        self.mortality = blocks.max(4);
        self
    }

    /// With the watcher resubscribing after `stall` without a finalized block (default 120 s).
    pub fn with_watch_stall(mut self, stall: Duration) -> Self {
        self.watch_stall = stall;
        self
    }

    /// Runs `work` within `limit`, or fails naming `what`.
    async fn within<T>(
        &self,
        what: &str,
        limit: Duration,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| Error::Rpc(format!("{what} took longer than {limit:?} (node {})", redacted(&self.url))))?
    }

    /// The chain's block time: as set, or twice the runtime's `Timestamp::MinimumPeriod`, or
    /// Bittensor's 12 s when the runtime has no such constant.
    fn block_time_ms(&self, at: &AtBlock) -> u64 {
        if let Some(block_time) = self.block_time {
            return u64::try_from(block_time.as_millis()).unwrap_or(u64::MAX);
        }
        let minimum_period = at
            .metadata_ref()
            .pallet_by_name("Timestamp")
            .and_then(|pallet| pallet.constant_by_name("MinimumPeriod"))
            .and_then(|constant| <u64 as parity_scale_codec::Decode>::decode(&mut constant.value()).ok());
        minimum_period.filter(|&ms| ms > 0).map_or(DEFAULT_BLOCK_TIME_MS, |ms| ms.saturating_mul(2))
    }

    /// The chain at its best (not yet finalized) block, where a transaction sent now lands
    /// next.
    async fn at_best(&self) -> Result<AtBlock> {
        let methods = LegacyRpcMethods::<RpcConfigFor<SubstrateConfig>>::new(self.rpc.clone());
        let best = methods.chain_get_block_hash(None).await.map_err(rpc)?;
        match best {
            Some(hash) => self.api.at_block(hash).await.map_err(rpc),
            None => self.api.at_current_block().await.map_err(rpc),
        }
    }

    /// The subxt client underneath, for reads this crate does not wrap.
    pub fn api(&self) -> &OnlineClient<SubstrateConfig> {
        &self.api
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The latest finalized block's number.
    pub async fn block_number(&self) -> Result<u64> {
        self.within("reading the block number", self.timeout, async {
            Ok(self.api.at_current_block().await.map_err(rpc)?.block_number())
        })
        .await
    }

    /// The subnet's metagraph at the latest finalized block: every neuron
    /// (`NeuronInfoRuntimeApi_get_neurons_lite`) with its published certificate.
    pub async fn metagraph(&self, netuid: u16) -> Result<Metagraph> {
        self.within("reading the metagraph", self.timeout, self.read_metagraph(netuid)).await
    }

    async fn read_metagraph(&self, netuid: u16) -> Result<Metagraph> {
        let at = self.api.at_current_block().await.map_err(rpc)?;
        let answer = at
            .runtime_apis()
            .call_raw("NeuronInfoRuntimeApi_get_neurons_lite", Some(&netuid.encode()))
            .await
            .map_err(rpc)?;
        let mut metagraph = Metagraph::from_neurons_lite(netuid, at.block_number(), &answer)?;
        let certificates = certificates(&at, netuid).await?;
        for neuron in &mut metagraph.neurons {
            neuron.certificate = certificates.get(&neuron.hotkey).cloned();
        }
        Ok(metagraph)
    }

    /// The free balance of `account`, in rao.
    pub async fn free_balance(&self, account: &AccountId) -> Result<u64> {
        self.within("reading a balance", self.timeout, self.read_free_balance(account)).await
    }

    async fn read_free_balance(&self, account: &AccountId) -> Result<u64> {
        let at = self.api.at_current_block().await.map_err(rpc)?;
        let address = subxt::dynamic::storage::<(Value,), Value>("System", "Account");
        let entry = at.storage().entry(address).map_err(rpc)?;
        let value = entry.fetch((Value::from_bytes(account.as_bytes()),)).await.map_err(rpc)?;
        let value = value.decode().map_err(rpc)?;
        use subxt::ext::scale_value::At;
        let free = value.at("data").and_then(|data| data.at("free")).and_then(|free| free.as_u128());
        free.and_then(|free| u64::try_from(free).ok())
            .ok_or_else(|| Error::Unsupported("System.Account with a data.free balance".into()))
    }

    /// The uid `hotkey` holds on `netuid`, if registered.
    pub async fn uid(&self, netuid: u16, hotkey: &AccountId) -> Result<Option<u16>> {
        self.within("reading a uid", self.timeout, self.read_uid(netuid, hotkey)).await
    }

    async fn read_uid(&self, netuid: u16, hotkey: &AccountId) -> Result<Option<u16>> {
        let at = self.api.at_current_block().await.map_err(rpc)?;
        let address = subxt::dynamic::storage::<(Value, Value), Value>("SubtensorModule", "Uids");
        let entry = at.storage().entry(address).map_err(rpc)?;
        let found =
            entry.try_fetch((Value::u128(netuid.into()), Value::from_bytes(hotkey.as_bytes()))).await.map_err(rpc)?;
        found.map(|value| value.decode_as::<u16>().map_err(rpc)).transpose()
    }

    /// The hyperparameters a validator needs, at the latest finalized block.
    pub async fn hyperparameters(&self, netuid: u16) -> Result<Hyperparameters> {
        self.within("reading hyperparameters", self.timeout, self.read_hyperparameters(netuid)).await
    }

    /// The chain's name as the node reports it (`system_chain`), such as "Bittensor" or
    /// "neuronet devchain".
    pub async fn chain_name(&self) -> Result<String> {
        self.within("reading the chain name", self.timeout, async {
            LegacyRpcMethods::<RpcConfigFor<SubstrateConfig>>::new(self.rpc.clone()).system_chain().await.map_err(rpc)
        })
        .await
    }

    /// Whether subnet `netuid` exists, and the hotkey that owns it, at the latest finalized
    /// block.
    pub async fn subnet_owner_hotkey(&self, netuid: u16) -> Result<Option<AccountId>> {
        self.within("reading the subnet", self.timeout, async {
            let at = self.api.at_current_block().await.map_err(rpc)?;
            if !item::<bool>(&at, "NetworksAdded", netuid).await? {
                return Ok(None);
            }
            item::<[u8; 32]>(&at, "SubnetOwnerHotkey", netuid).await.map(|key| Some(AccountId(key)))
        })
        .await
    }

    /// The weights uid `uid` has set on `netuid` (main mechanism), as (destination uid, weight
    /// normalised so the largest is 65535), at the latest finalized block.
    pub async fn weights(&self, netuid: u16, uid: u16) -> Result<Vec<(u16, u16)>> {
        self.within("reading weights", self.timeout, async {
            let at = self.api.at_current_block().await.map_err(rpc)?;
            let address = subxt::dynamic::storage::<(Value, Value), Value>("SubtensorModule", "Weights");
            let entry =
                at.storage().entry(address).map_err(|e| Error::Unsupported(format!("SubtensorModule.Weights: {e}")))?;
            let value = entry.fetch((Value::u128(netuid.into()), Value::u128(uid.into()))).await.map_err(rpc)?;
            value
                .decode_as::<Vec<(u16, u16)>>()
                .map_err(|e| Error::Unsupported(format!("SubtensorModule.Weights: {e}")))
        })
        .await
    }

    /// The burn `burned_register` costs on `netuid` now, in rao.
    pub async fn burn(&self, netuid: u16) -> Result<u64> {
        self.within("reading the burn", self.timeout, async {
            let at = self.api.at_current_block().await.map_err(rpc)?;
            item(&at, "Burn", netuid).await
        })
        .await
    }

    async fn read_hyperparameters(&self, netuid: u16) -> Result<Hyperparameters> {
        let at = self.api.at_current_block().await.map_err(rpc)?;
        Ok(Hyperparameters {
            tempo: item(&at, "Tempo", netuid).await?,
            commit_reveal_enabled: item(&at, "CommitRevealWeightsEnabled", netuid).await?,
            reveal_period_epochs: item(&at, "RevealPeriodEpochs", netuid).await?,
            weights_rate_limit: item(&at, "WeightsSetRateLimit", netuid).await?,
            weights_version_key: item(&at, "WeightsVersionKey", netuid).await?,
            serving_rate_limit: item(&at, "ServingRateLimit", netuid).await?,
        })
    }

    /// Sets `signer`'s weights on `netuid` the way the subnet takes them: with commit-reveal off,
    /// directly (`set_mechanism_weights` for the main mechanism where the runtime offers it,
    /// `set_weights` otherwise); with it on, as a timelocked commit to the drand round at which
    /// the chain will reveal them itself (the round by the runtime's own epoch rule, the stateful
    /// one where `SubnetEpochIndex` exists). The version key is the subnet's.
    pub async fn set_weights(
        &self,
        signer: &Keypair,
        netuid: u16,
        weights: &NormalisedWeights,
    ) -> Result<WeightsSubmitted> {
        self.within("setting weights", self.inclusion_timeout, self.send_weights(signer, netuid, weights)).await
    }

    async fn send_weights(
        &self,
        signer: &Keypair,
        netuid: u16,
        weights: &NormalisedWeights,
    ) -> Result<WeightsSubmitted> {
        // The best block, not the finalized one: the commit lands after it, and the epoch it
        // lands in decides when the chain reveals it.
        let at = self.at_best().await?;
        let version_key: u64 = item(&at, "WeightsVersionKey", netuid).await?;
        if !item::<bool>(&at, "CommitRevealWeightsEnabled", netuid).await? {
            let call = if offers_call(&at, "set_mechanism_weights") {
                calls::set_mechanism_weights(netuid, 0, weights, version_key)
            } else {
                calls::set_weights(netuid, weights, version_key)
            };
            return Ok(WeightsSubmitted::Set(self.send(signer, &call).await?));
        }
        let head = at.block_number();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let tempo: u16 = item(&at, "Tempo", netuid).await?;
        let reveal_period_epochs: u64 = item(&at, "RevealPeriodEpochs", netuid).await?;
        let reveal_round = if has_storage(&at, "SubnetEpochIndex") {
            let schedule = EpochSchedule {
                tempo,
                reveal_period_epochs,
                last_epoch_block: item(&at, "LastEpochBlock", netuid).await?,
                pending_epoch_at: item(&at, "PendingEpochAt", netuid).await?,
                epoch_index: item(&at, "SubnetEpochIndex", netuid).await?,
                blocks_since_last_step: item(&at, "BlocksSinceLastStep", netuid).await?,
            };
            timelock::reveal_round(schedule, head, now, self.block_time_ms(&at))
                .ok_or_else(|| Error::Invalid(format!("subnet {netuid} has tempo 0: its commits are never revealed")))?
        } else {
            timelock::legacy_reveal_round(head, netuid, tempo, reveal_period_epochs, now, self.block_time_ms(&at))
        };
        let hotkey = AccountId::from(signer.hotkey());
        let payload = WeightsTlockPayload::new(&hotkey, weights, version_key).encode();
        let commit = timelock::encrypt_for_round(&payload, reveal_round)?;
        let version = commit_reveal_version(&at).await?;
        let call = if offers_call(&at, "commit_timelocked_mechanism_weights") {
            calls::commit_timelocked_mechanism_weights(netuid, 0, &commit, reveal_round, version)
        } else if offers_call(&at, "commit_timelocked_weights") {
            calls::commit_timelocked_weights(netuid, &commit, reveal_round, version)
        } else {
            return Err(Error::Unsupported("timelocked weight commits".into()));
        };
        let included = self.send(signer, &call).await?;
        Ok(WeightsSubmitted::Committed { included, reveal_round })
    }

    /// Signs `call` with `signer` (mortal for [`with_mortality`](Self::with_mortality) blocks), submits it and waits until a block
    /// includes it. A call the chain refuses is [`Error::Module`] with the chain's own error name
    /// (`SubtensorModule::HotKeyNotRegisteredInSubNet`, ...); one the node will not take
    /// (a bad nonce, too little balance for the fee) is [`Error::Rejected`].
    pub async fn submit(&self, signer: &Keypair, call: &Call) -> Result<Included> {
        self.within("the transaction", self.inclusion_timeout, self.send(signer, call)).await
    }

    async fn send(&self, signer: &Keypair, call: &Call) -> Result<Included> {
        let at = self.api.at_current_block().await.map_err(rpc)?;
        let submitting = self.submitting.lock().await;
        let mut params = DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new().mortal(self.mortality);
        // The pool's next nonce counts transactions not yet finalized, so two sent back to back
        // do not share one; a node without the method leaves it to the finalized state.
        let account = AccountId32(*signer.hotkey().public());
        if let Ok(nonce) = LegacyRpcMethods::<RpcConfigFor<SubstrateConfig>>::new(self.rpc.clone())
            .system_account_next_index(&account)
            .await
        {
            params = params.nonce(nonce);
        }
        let params = params.build();
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!("submitted; waiting for a block to include it ...");
        }
        let mut progress = at
            .tx()
            .sign_and_submit_then_watch(call, &ChainSigner(signer), params)
            .await
            .map_err(|e| Error::Rejected(e.to_string()))?;
        // In the pool: the next transaction's nonce counts this one.
        drop(submitting);
        while let Some(status) = progress.next().await {
            match status.map_err(rpc)? {
                TransactionStatus::InBestBlock(block) | TransactionStatus::InFinalizedBlock(block) => {
                    let included =
                        Included { block_hash: block.block_hash().0, extrinsic_hash: block.extrinsic_hash().0 };
                    return match block.wait_for_success().await {
                        Ok(_) => Ok(included),
                        Err(TransactionEventsError::ExtrinsicFailed(error)) => Err(dispatch_error(&error)),
                        Err(other) => Err(rpc(other)),
                    };
                }
                TransactionStatus::Error { message }
                | TransactionStatus::Invalid { message }
                | TransactionStatus::Dropped { message } => return Err(Error::Rejected(message)),
                _ => {}
            }
        }
        Err(Error::Rpc("the node stopped reporting the transaction's progress".into()))
    }
}

type AtBlock = subxt::client::OnlineClientAtBlock<SubstrateConfig>;

/// A `SubtensorModule` storage item keyed by netuid (its default when unset).
async fn item<T: subxt::ext::scale_decode::DecodeAsType>(at: &AtBlock, name: &str, netuid: u16) -> Result<T> {
    let unsupported = |e: &dyn std::fmt::Display| Error::Unsupported(format!("SubtensorModule.{name}: {e}"));
    let address = subxt::dynamic::storage::<(Value,), Value>("SubtensorModule", name);
    let entry = at.storage().entry(address).map_err(|e| unsupported(&e))?;
    let value = entry.fetch((Value::u128(netuid.into()),)).await.map_err(rpc)?;
    value.decode_as::<T>().map_err(|e| unsupported(&e))
}

/// Whether the runtime offers `SubtensorModule::call`.
fn offers_call(at: &AtBlock, call: &str) -> bool {
    at.metadata_ref().pallet_by_name("SubtensorModule").is_some_and(|p| p.call_variant_by_name(call).is_some())
}

/// Whether the runtime has the storage item `SubtensorModule::name`.
fn has_storage(at: &AtBlock, name: &str) -> bool {
    at.metadata_ref()
        .pallet_by_name("SubtensorModule")
        .and_then(|p| p.storage())
        .is_some_and(|storage| storage.entry_by_name(name).is_some())
}

/// The commit format the chain expects (`CommitRevealWeightsVersion`, 4 when unset).
async fn commit_reveal_version(at: &AtBlock) -> Result<u16> {
    let address = subxt::dynamic::storage::<(), Value>("SubtensorModule", "CommitRevealWeightsVersion");
    let Ok(entry) = at.storage().entry(address) else { return Ok(timelock::COMMIT_REVEAL_VERSION) };
    match entry.try_fetch(()).await.map_err(rpc)? {
        Some(value) => {
            value.decode_as::<u16>().map_err(|e| Error::Unsupported(format!("CommitRevealWeightsVersion: {e}")))
        }
        None => Ok(timelock::COMMIT_REVEAL_VERSION),
    }
}

/// The chain's name for a failed dispatch: `Pallet::Error` for module errors.
fn dispatch_error(error: &DispatchError) -> Error {
    if let DispatchError::Module(module) = error {
        if let Ok(details) = module.details() {
            return Error::Module {
                pallet: details.pallet.name().to_owned(),
                name: details.variant.name.clone(),
                docs: details.variant.docs.join(" "),
            };
        }
    }
    Error::Rejected(error.to_string())
}

/// Every certificate published on `netuid`, by hotkey (`SubtensorModule::NeuronCertificates`,
/// keyed (netuid, Blake2_128Concat hotkey)). A runtime without certificates has none.
async fn certificates(
    at: &subxt::client::OnlineClientAtBlock<SubstrateConfig>,
    netuid: u16,
) -> Result<HashMap<AccountId, NeuronCertificate>> {
    let address = subxt::dynamic::storage::<(Value, Value), Value>("SubtensorModule", "NeuronCertificates");
    let Ok(entry) = at.storage().entry(address) else { return Ok(HashMap::new()) };
    let mut entries = entry.iter((Value::u128(netuid.into()),)).await.map_err(rpc)?;
    let mut found = HashMap::new();
    while let Some(pair) = entries.next().await {
        if found.len() >= MAX_CERTIFICATES {
            return Err(Error::Invalid(format!(
                "the node lists more than {MAX_CERTIFICATES} certificates on one subnet"
            )));
        }
        let pair = pair.map_err(rpc)?;
        let key = pair.key_bytes();
        // The key ends with the hotkey itself (Blake2_128Concat keeps the key after its hash).
        let Some(hotkey) = key.len().checked_sub(32).and_then(|at| <[u8; 32]>::try_from(&key[at..]).ok()) else {
            continue;
        };
        let certificate = NeuronCertificate::decode_all(&mut pair.value().bytes())
            .map_err(|e| Error::decode("NeuronCertificate", e))?;
        found.insert(AccountId(hotkey), certificate);
    }
    Ok(found)
}

/// Signs transactions with a neuronet [`Keypair`]: sr25519 under Substrate's `substrate`
/// context, ed25519 directly, as the chain verifies a `MultiSignature`.
pub struct ChainSigner<'a>(pub &'a Keypair);

impl Signer<SubstrateConfig> for ChainSigner<'_> {
    fn account_id(&self) -> AccountId32 {
        AccountId32(*self.0.hotkey().public())
    }

    fn sign(&self, payload: &[u8]) -> MultiSignature {
        let signature = self.0.sign(payload).0;
        match self.0.crypto() {
            CryptoType::Sr25519 => MultiSignature::Sr25519(signature),
            CryptoType::Ed25519 => MultiSignature::Ed25519(signature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_urls_carry_no_credentials() {
        assert_eq!(redacted("wss://user:secret@node.example:443/ws?apikey=k#x"), "wss://node.example:443/ws");
        assert_eq!(redacted("ws://127.0.0.1:9944"), "ws://127.0.0.1:9944");
        assert_eq!(redacted(FINNEY_URL), FINNEY_URL);
        assert_eq!(network_url("local").unwrap(), LOCAL_URL);
        assert!(network_url("http://node").is_err());
    }
}
