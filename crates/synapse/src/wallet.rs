//! btcli wallet directories: `<path>/<wallet>/hotkeys/<hotkey>`, `<path>/<wallet>/coldkey` and
//! `coldkeypub.txt`. Files are written with mode 0600 in directories of mode 0700.

use crate::keyfile::{self, Encryption, KeyfileJson};
use crate::{Error, Hotkey, Keypair, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The default wallet root, `~/.bittensor/wallets`.
pub fn default_wallet_path() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".bittensor").join("wallets")
}

/// Expands a leading `~/` the way btcli does for `--wallet.path`.
pub fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
    }
}

/// One named wallet under a wallet root.
#[derive(Debug, Clone)]
pub struct Wallet {
    root: PathBuf,
    name: String,
}

impl Wallet {
    /// The wallet `name` under `root` (see [`default_wallet_path`]).
    pub fn new(root: impl AsRef<Path>, name: impl Into<String>) -> Self {
        Wallet { root: expand_home(root.as_ref()), name: name.into() }
    }

    /// The wallet's directory.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    /// The secret file of hotkey `hotkey`.
    pub fn hotkey_path(&self, hotkey: &str) -> PathBuf {
        self.dir().join("hotkeys").join(hotkey)
    }

    /// The public file of hotkey `hotkey` (`<hotkey>pub.txt`).
    pub fn hotkeypub_path(&self, hotkey: &str) -> PathBuf {
        self.dir().join("hotkeys").join(format!("{hotkey}pub.txt"))
    }

    /// The (usually encrypted) coldkey file.
    pub fn coldkey_path(&self) -> PathBuf {
        self.dir().join("coldkey")
    }

    /// The coldkey's public file.
    pub fn coldkeypub_path(&self) -> PathBuf {
        self.dir().join("coldkeypub.txt")
    }

    /// Loads a hotkey's keypair. Encrypted hotkeys need `password`.
    pub fn hotkey(&self, hotkey: &str, password: Option<&str>) -> Result<Keypair> {
        load_keypair(&self.hotkey_path(hotkey), password)
    }

    /// Loads the coldkey's keypair with `password` when it is encrypted.
    pub fn coldkey(&self, password: Option<&str>) -> Result<Keypair> {
        load_keypair(&self.coldkey_path(), password)
    }

    /// The coldkey's public identity from `coldkeypub.txt`, or `None` when the file is absent.
    pub fn coldkeypub(&self) -> Result<Option<Hotkey>> {
        let path = self.coldkeypub_path();
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(KeyfileJson::parse(&bytes, &path)?.hotkey(&path)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Writes a hotkey file and its public companion, unencrypted as btcli writes hotkeys.
    pub fn write_hotkey(&self, hotkey: &str, pair: &Keypair, overwrite: bool) -> Result<PathBuf> {
        let path = self.hotkey_path(hotkey);
        let secret = Zeroizing::new(KeyfileJson::from_keypair(pair).to_bytes());
        write_private(&path, &secret, overwrite)?;
        write_private(&self.hotkeypub_path(hotkey), &KeyfileJson::public_only(&pair.hotkey()).to_bytes(), true)?;
        Ok(path)
    }

    /// Writes the coldkey encrypted with `password` (or plain when `None`) and `coldkeypub.txt`.
    pub fn write_coldkey(&self, pair: &Keypair, password: Option<&str>, overwrite: bool) -> Result<PathBuf> {
        let path = self.coldkey_path();
        let json = Zeroizing::new(KeyfileJson::from_keypair(pair).to_bytes());
        let bytes = match password {
            Some(password) => keyfile::encrypt(&json, password)?,
            None => json.to_vec(),
        };
        write_private(&path, &bytes, overwrite)?;
        write_private(&self.coldkeypub_path(), &KeyfileJson::public_only(&pair.hotkey()).to_bytes(), true)?;
        Ok(path)
    }
}

/// Loads a keypair from a keyfile, decrypting `$NACL` files with `password`.
pub fn load_keypair(path: &Path, password: Option<&str>) -> Result<Keypair> {
    let bytes = Zeroizing::new(fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?);
    let plain = match keyfile::detect_encryption(&bytes) {
        Encryption::None => bytes,
        Encryption::Nacl => {
            let password = password.ok_or_else(|| Error::PasswordRequired { path: path.to_owned() })?;
            keyfile::decrypt(&bytes, password, path)?
        }
        Encryption::AnsibleVault => {
            return Err(Error::UnsupportedEncryption { path: path.to_owned(), format: "ansible vault" })
        }
        Encryption::Fernet => return Err(Error::UnsupportedEncryption { path: path.to_owned(), format: "fernet" }),
    };
    KeyfileJson::parse(&plain, path)?.keypair(path)
}

/// Whether the keyfile at `path` is encrypted (and so needs a password).
pub fn is_encrypted(path: &Path) -> Result<bool> {
    let bytes = fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    Ok(keyfile::detect_encryption(&bytes) != Encryption::None)
}

fn write_private(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(io)?;
    }
    if !overwrite && path.exists() {
        return Err(Error::AlreadyExists { path: path.to_owned() });
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    #[cfg(unix)]
    {
        // The mode given to open() only applies to new files; tighten an existing one too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
