"""Python counterparts of neuronet's built-in synapses, for subnet code on bittensor 10.x.

A bittensor 10 dendrite queries a neuronet miner's HTTP listener with these classes as with any
synapse of its own: the field names are those of the synapses' JSON form (the protobuf field
names in proto/neuronet/v1/synapses.proto), enums are their integer values, and a streaming
synapse reads the listener's server-sent events (`event: message` per chunk, `event: end` last).

    import bittensor as bt
    from neuronet_synapses import TextGeneration, TextGenerationStream

    dendrite = bt.Dendrite(wallet=wallet)
    answer = await dendrite.call(axon_info, TextGeneration(prompt="hello", max_tokens=16))
    print(answer.text)
    async for piece in dendrite.call_stream(axon_info, TextGenerationStream(prompt="hello")):
        print(piece)   # each chunk's text, then the final synapse
"""

import json
from typing import Any, AsyncIterator, Dict, List, Optional

import bittensor as bt


class Ping(bt.Synapse):
    """Liveness and latency probe."""

    now_ns: int = 0
    version: str = ""

    def deserialize(self) -> int:
        return self.now_ns


class TextGeneration(bt.Synapse):
    """A completion, answered at once."""

    prompt: str = ""
    messages: List[Dict[str, str]] = []
    max_tokens: int = 0
    temperature: float = 0.0
    top_p: float = 0.0
    seed: Optional[int] = None
    stop: List[str] = []
    model: str = ""
    # The answer (`TextGenerationResponse`).
    text: str = ""
    tokens: int = 0
    finish_reason: int = 0

    def deserialize(self) -> str:
        return self.text


class TextGenerationStream(bt.StreamingSynapse):
    """A completion, streamed as it is generated: each chunk's text, then the whole."""

    prompt: str = ""
    messages: List[Dict[str, str]] = []
    max_tokens: int = 0
    temperature: float = 0.0
    top_p: float = 0.0
    seed: Optional[int] = None
    stop: List[str] = []
    model: str = ""
    # Gathered from the chunks (`TextGenerationChunk`).
    text: str = ""
    tokens: int = 0
    finish_reason: int = 0

    async def process_streaming_response(self, response: Any) -> AsyncIterator[str]:
        buffer = b""
        async for data in response.content.iter_any():
            buffer += data
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                kind, payload = "message", b""
                for line in event.split(b"\n"):
                    if line.startswith(b"event: "):
                        kind = line[len(b"event: "):].decode()
                    elif line.startswith(b"data: "):
                        payload = line[len(b"data: "):]
                if kind != "message" or not payload:
                    continue
                chunk = json.loads(payload)
                self.text += chunk.get("text", "")
                self.tokens = chunk.get("tokens", self.tokens)
                self.finish_reason = chunk.get("finish_reason", self.finish_reason)
                yield chunk.get("text", "")

    def extract_response_json(self, response: Any) -> dict:
        return {"name": self.name, "text": self.text, "tokens": self.tokens, "finish_reason": self.finish_reason}

    def deserialize(self) -> str:
        return self.text


class Embedding(bt.Synapse):
    """Vectors for texts: `vectors[i]["values"]` for `texts[i]`."""

    texts: List[str] = []
    model: str = ""
    normalize: bool = False
    # The answer (`EmbeddingResponse`).
    vectors: List[Dict[str, List[float]]] = []
    dimension: int = 0

    def deserialize(self) -> List[List[float]]:
        return [vector.get("values", []) for vector in self.vectors]


class Capabilities(bt.Synapse):
    """What the miner serves: models, device, limits, synapses."""

    models: List[Dict[str, Any]] = []
    device: str = ""
    limits: Optional[Dict[str, Any]] = None
    synapses: List[str] = []
    version: str = ""
