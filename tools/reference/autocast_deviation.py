#!/usr/bin/env python3
"""How far PyTorch's own CPU mixed precision (torch.autocast("cpu", dtype=torch.bfloat16)) moves one training step
of a golden train_step bundle away from its float32 result: logits, loss, and per gradient tensor the max abs
difference over the tensor's largest entry and the cosine similarity. The engine's bf16 training test
(tests/models/test_maxvit_bf16_train.cpp) takes its bounds from these figures.

Needs a current PyTorch + torchvision (Debian's torch 1.13 fails in layer_norm under CPU autocast):
    .venv-bench/bin/python tools/reference/autocast_deviation.py ../shared/reference/maxvit_small_train_step.safetensors
"""
import json, struct, sys, torch, numpy as np
from torchvision.models.maxvit import MaxVit
from functools import partial
path = sys.argv[1]
def load_st(p):
    f = open(p, 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); data = f.read()
    out = {}
    dt = {'F32': np.float32, 'I64': np.int64, 'F64': np.float64}
    for k, v in h.items():
        if k == '__metadata__': continue
        a, b = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dt[v['dtype']]).reshape(v['shape']).copy())
    return out, h['__metadata__']
t, meta = load_st(path)
cfg = json.loads(meta['config']); ts = json.loads(meta['train_step'])
m = MaxVit(input_size=tuple(cfg['input_size']), stem_channels=cfg['stem_channels'], partition_size=cfg['partition_size'],
           block_channels=cfg['block_channels'], block_layers=cfg['block_layers'], head_dim=cfg['head_dim'],
           stochastic_depth_prob=cfg['stochastic_depth_prob'], num_classes=cfg['num_classes'])
sd = torch.load(path.rsplit('/', 1)[0] + '/' + meta['checkpoint'])
m.load_state_dict(sd)
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d): mod.momentum = ts['bn_momentum']; mod.eps = 1e-3
m.train()
x = t[ts['inputs']]; y = t[ts['labels']]; va = t[ts['va_targets']]; w = t[ts['class_weights']]
K = ts['num_classes']
with torch.autocast('cpu', dtype=torch.bfloat16):
    logits = m(x)
logits = logits.float()
loss = torch.nn.CrossEntropyLoss(weight=w)(logits[:, :K], y) + ts['alpha'] * torch.nn.MSELoss()(logits[:, K:K+2], va)
loss.backward()
print('logits max abs', (logits - t['logits']).abs().max().item(), 'loss', loss.item(), 'vs', t['loss'].item())
worst, wk, mincos = 0, '', 1
for k, p in m.named_parameters():
    ref = t['grad.' + k].double(); g = p.grad.double()
    s = ref.abs().max().item()
    if s <= 1e-5: continue
    r = (g - ref).abs().max().item() / s
    c = (g * ref).sum().item() / ((g * g).sum().sqrt() * (ref * ref).sum().sqrt()).item()
    if r > worst: worst, wk = r, k
    mincos = min(mincos, c)
print('torch autocast bf16: worst max abs / max|ref|', worst, wk, 'min cosine', mincos)
