"""The in-process baseline of `neuronet-bench --inference`: llama-cpp-python on the same GGUF,
with the same thread count, prompts, sampling and token budget as the requests sent through the
miner. Streams one request at a time (a Llama object decodes one sequence); prints one JSON line.

    python llama_cpp_python_bench.py '{"model": "...gguf", "threads": 2, "context": 1024,
        "max_tokens": 128, "requests": 4, "warmup": 1}'
"""

import json
import statistics
import sys
import time

import llama_cpp


def chat(index):
    # The same messages the Rust side sends (crates/bench/src/inference.rs).
    return [{"role": "user", "content": f"Chapter {index + 1}. Tell a long story about a lighthouse keeper."}]


def one(llm, index, max_tokens):
    started = time.perf_counter()
    first = None
    tokens = 0
    for chunk in llm.create_chat_completion(
        messages=chat(index), max_tokens=max_tokens, temperature=0.8, top_p=1.0, seed=index, stream=True
    ):
        delta = chunk["choices"][0].get("delta", {})
        if delta.get("content"):
            tokens += 1
            if first is None:
                first = time.perf_counter() - started
    return tokens, time.perf_counter() - started, first


def main():
    spec = json.loads(sys.argv[1])
    llm = llama_cpp.Llama(
        model_path=spec["model"],
        n_ctx=spec["context"],
        n_threads=spec["threads"],
        n_threads_batch=spec["threads"],
        n_batch=512,
        verbose=False,
    )
    for index in range(spec.get("warmup", 1)):
        one(llm, 1000 + index, 16)
    tokens = 0
    seconds = 0.0
    firsts = []
    for index in range(spec["requests"]):
        count, took, first = one(llm, index, spec["max_tokens"])
        tokens += count
        seconds += took
        if first is not None:
            firsts.append(first)
    print(
        json.dumps(
            {
                "version": llama_cpp.__version__,
                "tokens": tokens,
                "seconds": seconds,
                "tokens_per_s": tokens / seconds if seconds else 0.0,
                "ttft_p50_ms": statistics.median(firsts) * 1000 if firsts else None,
            }
        )
    )


if __name__ == "__main__":
    main()
