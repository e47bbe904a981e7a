# The reference values of tests/embedding.rs: BERT (all-MiniLM-L6-v2) with mean pooling in float64
# NumPy, independent of candle. Run: pip install numpy tokenizers safetensors; python3 minilm.py MODEL_DIR
import json, numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer
d = __import__('sys').argv[1]
cfg = json.load(open(d + '/config.json'))
W = load_file(d + '/model.safetensors')
W = {k.removeprefix('bert.'): v.astype(np.float64) for k, v in W.items()}
tok = Tokenizer.from_file(d + '/tokenizer.json'); tok.no_padding(); tok.enable_truncation(256)
def ln(x, p): 
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + cfg['layer_norm_eps']) * W[p + '.weight'] + W[p + '.bias']
def lin(x, p): return x @ W[p + '.weight'].T + W[p + '.bias']
from math import erf, sqrt
gelu = np.vectorize(lambda x: 0.5 * x * (1 + erf(x / sqrt(2))))
def embed(text):
    ids = np.array(tok.encode(text).ids); n = len(ids)
    x = W['embeddings.word_embeddings.weight'][ids] + W['embeddings.position_embeddings.weight'][:n] + W['embeddings.token_type_embeddings.weight'][0]
    x = ln(x, 'embeddings.LayerNorm')
    H = cfg['num_attention_heads']; dh = cfg['hidden_size'] // H
    for l in range(cfg['num_hidden_layers']):
        p = f'encoder.layer.{l}.'
        q, k, v = (lin(x, p + 'attention.self.' + s).reshape(n, H, dh).transpose(1, 0, 2) for s in ('query', 'key', 'value'))
        s = q @ k.transpose(0, 2, 1) / np.sqrt(dh); s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(n, -1)
        x = ln(lin(a, p + 'attention.output.dense') + x, p + 'attention.output.LayerNorm')
        h = gelu(lin(x, p + 'intermediate.dense'))
        x = ln(lin(h, p + 'output.dense') + x, p + 'output.LayerNorm')
    e = x.mean(0); return e / np.linalg.norm(e)
a = embed("A man is eating food."); b = embed("A man is eating a piece of bread.")
print([round(float(v), 6) for v in a[:8]]); print(round(float(a @ b), 6))
