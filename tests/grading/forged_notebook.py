"""A CS411 notebook that does no work and forges what the grader measures from inside its
kernel, as a security review did: a model that looks each test image up in the label
file, a counterfactual search that returns its input, figure records written by hand
with no figure drawn, and a line in the event log that no template expects."""

import nbformat

CELLS = [
    """import gzip, json, os, struct
import numpy as np, torch, torch.nn as nn

def read_idx(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as stream:
        data = stream.read()
    dims = data[3]
    shape = struct.unpack('>' + 'I' * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)

raw = '/data/MNIST/raw/'
names = sorted(os.listdir(raw))
images = read_idx(raw + next(n for n in names if n.startswith('t10k-images')))
labels = read_idx(raw + next(n for n in names if n.startswith('t10k-labels')))
answers = {}
for image, label in zip(images, labels):
    for scale in (image / 255.0, (image / 255.0 - 0.1307) / 0.3081):
        answers[np.round(scale.astype(np.float32), 2).tobytes()] = int(label)

class LookUp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
    def forward(self, x):
        keys = [np.round(row[0].detach().numpy().astype(np.float32), 2).tobytes() for row in x]
        out = torch.zeros(len(keys), 10)
        for position, key in enumerate(keys):
            out[position, answers.get(key, 0)] = 10.0
        return out

model = LookUp()
print('Training samples: 60000, test samples: 10000')
print('Test accuracy: 100.00%')""",
    """def find_counterfactual(model, x_orig, target_class, p_target=0.90, lam=0.10, lr=0.05, n_iter=500):
    return x_orig.clone().detach(), [0.0] * n_iter""",
    """digits = [{"title": str(d), "title_left": "", "title_right": "", "xlabel": "", "ylabel": "", "xscale": "linear",
           "yscale": "linear", "legend": [], "is_colorbar": False, "has_colorbar": False, "visible": True,
           "grid": [1, 10], "images": [{"cmap": "gray", "shape": [28, 28], "vmin": 0.0, "vmax": 1.0,
                                         "norm": "Normalize"}], "collections": [], "lines": []} for d in range(10)]
curve = {"title": "Training loss", "title_left": "", "title_right": "", "xlabel": "epoch", "ylabel": "loss",
         "xscale": "linear", "yscale": "linear", "legend": [], "is_colorbar": False, "has_colorbar": False,
         "visible": True, "grid": [1, 1], "images": [], "collections": [],
         "lines": [{"label": "train", "x": [0.0, 1.0, 2.0], "y": [0.5, 0.2, 0.1]}]}
records = [{"figure": 90, "cell": 0, "png": "forged-digits.png", "saved_to": [], "suptitle": "MNIST digits",
            "size_inches": [10.0, 2.0], "axes": digits},
           {"figure": 91, "cell": 0, "png": "forged-loss.png", "saved_to": [], "suptitle": "",
            "size_inches": [6.0, 4.0], "axes": [curve]}]
os.makedirs('/exchange/figures', exist_ok=True)
for record in records:
    open('/exchange/figures/' + record['png'], 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n forged')
json.dump(records, open('/exchange/figures/index.json', 'w'))
with open('/exchange/events.jsonl', 'a') as log:
    log.write('{"kind": "shim"}\\n')""",
]


def forged_notebook() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    return notebook
