"""The mnist_cnn model and `neuroxide train mnist`'s recipe in PyTorch, for the accuracy
reference of docs/ACCURACY.md: Adam 1e-3, batch 64, shuffled, pixels in [0, 1], PyTorch's
default initialisation; prints the test accuracy after the given epochs for each seed.

    python3 benches/mnist_accuracy_torch.py EPOCHS constant|cosine SEEDS   (e.g. 1 cosine 1,2,3,4)

`cosine` decays the rate from 1e-3 to 0 over the run, per step (`--lr-schedule cosine`).
Reads the IDX files of data/mnist (gzipped). Needs only `torch`.
"""
import gzip, os, torch, torch.nn as nn, sys, math
def idx(p):
    d = gzip.open(p).read()
    nd = d[3]; dims = [int.from_bytes(d[4+4*i:8+4*i], 'big') for i in range(nd)]
    return torch.frombuffer(bytearray(d[4+4*nd:]), dtype=torch.uint8).reshape(dims)
D=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'mnist') + '/'
xtr = idx(D+'train-images-idx3-ubyte.gz').float().div(255).unsqueeze(1)
ytr = idx(D+'train-labels-idx1-ubyte.gz').long()
xte = idx(D+'t10k-images-idx3-ubyte.gz').float().div(255).unsqueeze(1)
yte = idx(D+'t10k-labels-idx1-ubyte.gz').long()
torch.set_num_threads(1)
epochs = int(sys.argv[1]); sched = sys.argv[2]
for seed in [int(s) for s in sys.argv[3].split(',')]:
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(1,16,3,padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16,32,3,padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1568,128), nn.ReLU(), nn.Linear(128,10))
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    steps = epochs * math.ceil(60000/64); k = 0
    for e in range(epochs):
        perm = torch.randperm(60000)
        for i in range(0, 60000, 64):
            b = perm[i:i+64]
            if sched == 'cosine':
                for g in opt.param_groups: g['lr'] = 1e-3 * 0.5 * (1 + math.cos(math.pi * k / steps))
            loss = nn.functional.cross_entropy(m(xtr[b]), ytr[b])
            opt.zero_grad(); loss.backward(); opt.step(); k += 1
    with torch.no_grad():
        acc = (m(xte).argmax(1) == yte).float().mean().item()
    print(f"torch epochs={epochs} sched={sched} seed={seed} acc={acc:.4f}", flush=True)
