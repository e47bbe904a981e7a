//! Where settings come from: the command line, then `NEURONET_*` environment variables, then a
//! TOML file (`--config FILE` or `NEURONET_CONFIG`), then the defaults.
//!
//! The file's keys are the flags' names without the dashes, flat or as tables:
//! `netuid = 1` and `[subtensor] network = "ws://127.0.0.1:9944"` (or `"subtensor.network" =
//! ...`) set `--netuid` and `--subtensor.network`. Each becomes the flag's environment variable
//! (`NEURONET_NETUID`, `NEURONET_SUBTENSOR_NETWORK`) unless that is already set, so the command
//! line and the environment win over the file.

use std::path::Path;

use anyhow::{Context, Result};

/// The `--config` file named on the command line (or by `NEURONET_CONFIG`), applied.
pub fn apply_config_file(args: &[String]) -> Result<()> {
    let named = args
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| args.iter().find_map(|a| a.strip_prefix("--config=").map(str::to_owned)))
        .or_else(|| std::env::var("NEURONET_CONFIG").ok());
    let Some(path) = named else { return Ok(()) };
    for (name, value) in read(Path::new(&path))? {
        if std::env::var_os(&name).is_none() {
            // Still one thread: no runtime has started yet.
            std::env::set_var(name, value);
        }
    }
    Ok(())
}

/// The file's settings as (environment variable, value) pairs.
pub fn read(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = text.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
    let mut pairs = Vec::new();
    flatten("", &toml::Value::Table(table), &mut pairs)?;
    Ok(pairs)
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) -> Result<()> {
    let name = || format!("NEURONET_{}", prefix.replace(['.', '-'], "_").to_uppercase());
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&key, value, out)?;
            }
        }
        toml::Value::String(text) => out.push((name(), text.clone())),
        toml::Value::Integer(n) => out.push((name(), n.to_string())),
        toml::Value::Float(x) => out.push((name(), x.to_string())),
        toml::Value::Boolean(b) => out.push((name(), b.to_string())),
        other => anyhow::bail!("{prefix}: unsupported value {other}"),
    }
    Ok(())
}

/// Starts logging to stderr: `RUST_LOG` filters (default `warn`), human or JSON lines.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_names_the_flags_environment_variables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("neuronet.toml");
        std::fs::write(
            &path,
            "netuid = 3\n[subtensor]\nnetwork = \"ws://127.0.0.1:9944\"\n[axon]\nport = 8091\nhttp = false\n",
        )
        .unwrap();
        let mut pairs = read(&path).unwrap();
        pairs.sort();
        assert_eq!(
            pairs,
            [
                ("NEURONET_AXON_HTTP".to_owned(), "false".to_owned()),
                ("NEURONET_AXON_PORT".to_owned(), "8091".to_owned()),
                ("NEURONET_NETUID".to_owned(), "3".to_owned()),
                ("NEURONET_SUBTENSOR_NETWORK".to_owned(), "ws://127.0.0.1:9944".to_owned()),
            ]
        );
    }
}
