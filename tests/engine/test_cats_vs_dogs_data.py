"""Hugging Face's microsoft/cats_vs_dogs inside the sandboxed kernel: the calls students make behave
as on the hub (served offline from the data directory), what cannot work offline says what to
write instead, and the probe's survey tells which image file each row of each split reads."""

from checks.data.assets import DataDir
from checks.engine.exchange_records import datasets_from_survey
from checks.finders.image_split import canonical_indices, judge_image_split
from tests.engine.conftest import cell_text, make_notebook

LOAD = "from datasets import load_dataset\nds = load_dataset('microsoft/cats_vs_dogs')\ntrain = ds['train']"
SPLIT = (
    "parts = train.train_test_split(test_size=0.3, seed=0)\n"
    "rest = parts['test'].train_test_split(test_size=0.5, seed=0)\n"
    "train_ds, val_ds, test_ds = parts['train'], rest['train'], rest['test']"
)
TRANSFORM = (
    "import torch\nfrom torch.utils.data import DataLoader\nimport torchvision.transforms as T\n"
    "to_tensor = T.Compose([T.Resize((32, 32)), T.ToTensor()])\n"
    "def apply(batch):\n"
    "    return {'pixel_values': [to_tensor(image.convert('RGB')) for image in batch['image']], "
    "'labels': batch['labels']}\n"
    "def collate(examples):\n"
    "    return torch.stack([e['pixel_values'] for e in examples]), torch.tensor([e['labels'] for e in examples])"
)


def texts(executed, count: int) -> list[str]:
    """What the first ``count`` cells printed (progress bars and warnings go to stderr)."""
    return [
        "".join(output["text"] for output in cell.get("outputs", []) if output.get("name") == "stdout")
        for cell in executed.cells[:count]
    ]


def test_the_dataset_loads_indexes_and_iterates_as_on_the_hub(run_cells):
    result, executed, _ = run_cells(
        LOAD + "\nprint(list(ds), len(train), train.column_names, train.features['labels'].names)",
        "row = train[0]\nprint(type(row['image']).__module__.split('.')[0], row['image'].mode, row['labels'], "
        "train[-1]['labels'])",
        "batch = train[:4]\nprint(sorted(batch), len(batch['image']), batch['labels'])",
        "print(sum(1 for _ in train.select(range(10))), next(iter(train))['labels'], "
        "train.select(range(10))['labels'] == [row['labels'] for row in train.select(range(10))])",
        "train[len(train)]",
    )
    assert [cell.status for cell in result.cells] == ["ok", "ok", "ok", "ok", "error"]
    assert texts(executed, 4) == [
        "['train'] 2002 ['image', 'labels'] ['cat', 'dog']\n",
        "PIL RGB 0 1\n",
        "['image', 'labels'] 4 [0, 0, 0, 0]\n",
        "10 0 True\n",
    ]
    assert "IndexError" in cell_text(executed, 4), "past the end is the real error, as on the hub"


def test_what_cannot_work_offline_says_what_to_write_instead(run_cells):
    result, executed, _ = run_cells(
        "from datasets import load_dataset\nfirst_tenth = load_dataset('microsoft/cats_vs_dogs', split='train[:10%]')\n"
        "print(len(first_tenth), first_tenth.features['labels'].names)",
        "halves = load_dataset('microsoft/cats_vs_dogs', split=['train[:80%]', 'train[80%:]'])\n"
        "print([len(half) for half in halves], halves[1].column_names)",
        "streamed = load_dataset('microsoft/cats_vs_dogs', split='train', streaming=True)\n"
        "print(sorted(next(iter(streamed))))",
        "print(len(load_dataset('microsoft/cats_vs_dogs', revision='main', use_auth_token=True, "
        "trust_remote_code=True)['train']))",
        "load_dataset('microsoft/cats_vs_dogs', split='test')",
        "load_dataset('microsoft/cats_vs_dogs', data_dir='PetImages')",
    )
    assert [cell.status for cell in result.cells] == ["ok", "ok", "ok", "ok", "error", "error"]
    assert texts(executed, 4) == [
        "200 ['cat', 'dog']\n",
        "[1602, 400] ['image', 'labels']\n",
        "['image', 'labels']\n",
        "2002\n",
    ]
    assert cell_text(executed, 4) == (
        "HuggingFaceDataError: load_dataset('microsoft/cats_vs_dogs', split='test'): microsoft/cats_vs_dogs has a "
        "single split, 'train'; split it yourself, e.g. parts = load_dataset('microsoft/cats_vs_dogs', "
        "split='train').train_test_split(test_size=0.2, seed=0) gives parts['train'] and parts['test']"
    )
    assert "load it without data_dir / data_files" in cell_text(executed, 5)
    refusals = [shim for shim in result.shims if shim.get("refused")]
    assert [(shim["cell"], shim["note"].split(":")[0]) for shim in refusals] == [
        (4, "load_dataset('microsoft/cats_vs_dogs', split='test')"),
        (5, "load_dataset('microsoft/cats_vs_dogs', data_dir='PetImages')"),
    ]


def test_splits_shuffles_selections_filters_and_maps_behave_as_on_the_hub(run_cells):
    result, executed, _ = run_cells(
        LOAD + "\n" + SPLIT + "\nprint(len(train_ds), len(val_ds), len(test_ds))",
        "import datasets\ndef paths(part):\n"
        "    return {image['path'] for image in part.cast_column('image', datasets.Image(decode=False))['image']}\n"
        "print(len(paths(train_ds) | paths(val_ds) | paths(test_ds)), len(paths(train_ds) & paths(test_ds)))",
        "again = train.train_test_split(test_size=0.3, seed=0)['test']['labels']\n"
        "other = train.train_test_split(test_size=0.3, seed=1)['test']['labels']\n"
        "print(again == parts['test']['labels'], other == parts['test']['labels'])",
        "sample = train.shuffle(seed=1).select(range(100))\nprint(len(sample), 0 < sum(sample['labels']) < 100)",
        "dogs = train.filter(lambda row: row['labels'] == 1)\nprint(len(dogs), set(dogs['labels']))",
        "widths = test_ds.map(lambda row: {'width': row['image'].size[0]})\n"
        "sizes = test_ds.map(lambda batch: {'side': [min(i.size) for i in batch['image']]}, batched=True, "
        "batch_size=16, remove_columns=['image'])\n"
        "print(widths.column_names, sizes.column_names, len(sizes), all(side > 0 for side in sizes['side']))",
        "test_ds.map(lambda batch: {'n': len(batch['labels'])}, batched=True)",
    )
    assert [cell.status for cell in result.cells] == ["ok"] * 6 + ["error"]
    assert texts(executed, 6) == [
        "1401 300 301\n",
        "2002 0\n",
        "True False\n",
        "100 True\n",
        "1001 {1}\n",
        "['image', 'labels', 'width'] ['labels', 'side'] 301 True\n",
    ]
    assert "TypeError" in cell_text(executed, 6), "a batched map must return lists, as on the hub"


def test_transformed_datasets_feed_a_dataloader(run_cells):
    result, executed, _ = run_cells(
        LOAD + "\n" + SPLIT + "\n" + TRANSFORM,
        "train_tf = train_ds.with_transform(apply)\n"
        "loader = DataLoader(train_tf, batch_size=8, shuffle=True, collate_fn=collate)\n"
        "images, labels = next(iter(loader))\nprint(tuple(images.shape), labels.dtype, sorted(train_tf[0]))",
        "val_ds.set_transform(apply)\nx = next(iter(DataLoader(val_ds, batch_size=4)))['pixel_values']\n"
        "print(tuple(x.shape), len(val_ds))",
        "next(iter(DataLoader(test_ds, batch_size=4)))",
    )
    assert [cell.status for cell in result.cells] == ["ok", "ok", "ok", "error"]
    assert texts(executed, 3)[1:] == [
        "(8, 3, 32, 32) torch.int64 ['labels', 'pixel_values']\n",
        "(4, 3, 32, 32) 300\n",
    ]
    assert "TypeError" in cell_text(executed, 3), "PIL images do not collate without a transform"


def test_torchvision_reads_the_same_folder_with_random_split(run_cells):
    result, executed, _ = run_cells(
        "import torch\nfrom torch.utils.data import DataLoader, random_split\nimport torchvision\n"
        "import torchvision.transforms as T\n"
        "folder = torchvision.datasets.ImageFolder('/data/cats_vs_dogs', "
        "transform=T.Compose([T.Resize((32, 32)), T.ToTensor()]))\n"
        "print(len(folder), folder.classes, folder.class_to_idx)",
        "parts = random_split(folder, [0.7, 0.15, 0.15], generator=torch.Generator().manual_seed(0))\n"
        "x, y = next(iter(DataLoader(parts[0], batch_size=4)))\n"
        "print([len(part) for part in parts], tuple(x.shape), y.dtype)",
        "random_split(folder, [1400, 300, 300])",
    )
    assert [cell.status for cell in result.cells] == ["ok", "ok", "error"]
    assert texts(executed, 2) == [
        "2002 ['cat', 'dog'] {'cat': 0, 'dog': 1}\n",
        "[1402, 300, 300] (4, 3, 32, 32) torch.int64\n",
    ]
    assert "ValueError" in cell_text(executed, 2)


def test_the_survey_tells_the_image_each_row_reads_and_the_split_is_judged_by_images(live_session, data_root):
    notebook = make_notebook(
        LOAD + "\n" + SPLIT + "\n" + TRANSFORM,
        "train_loader = DataLoader(train_ds.with_transform(apply), batch_size=8, collate_fn=collate)\n"
        "val_loader = DataLoader(val_ds.with_transform(apply), batch_size=8, collate_fn=collate)\n"
        "test_loader = DataLoader(test_ds.with_transform(apply), batch_size=8, collate_fn=collate)\n"
        "widths = test_ds.map(lambda row: {'width': row['image'].size[0]})\n"
        "tensors = test_ds.map(lambda row: {'pixels': [1.0]}, remove_columns=['image'])\n"
        "dogs = test_ds.filter(lambda row: row['labels'] == 1)",
        "import torchvision\nfrom torch.utils.data import Subset, random_split\n"
        "folder = torchvision.datasets.ImageFolder('/data/cats_vs_dogs')\n"
        "tv_train, tv_val, tv_test = random_split(folder, [0.7, 0.15, 0.15], generator=torch.Generator().manual_seed(0))\n"
        "loaders = {'train': DataLoader(tv_train), 'test': DataLoader(tv_test)}\n"
        "class Pets(torch.utils.data.Dataset):\n"
        "    def __init__(self, rows):\n        self.rows = rows\n"
        "    def __len__(self):\n        return len(self.rows)\n"
        "    def __getitem__(self, index):\n        return self.rows[index]\n"
        "wrapped = Subset(Pets(test_ds), [0, 2])",
        "leaky_test = parts['train'].train_test_split(test_size=0.15, seed=1)['test']",
    )

    async def probe(session, result):
        surveyed, decoder = await session.request({"op": "datasets"})
        return result, datasets_from_survey(decoder.decode(surveyed["value"]))

    result, found = live_session(notebook, probe)
    assert all(cell.status == "ok" for cell in result.cells) and not found.dropped
    records = {record["name"]: record for record in found.records}
    canonical = [path for path, _ in DataDir(data_root).cats_vs_dogs_files()]

    def images(name: str) -> list[int]:
        indices, unmatched = canonical_indices(records[name]["files"], canonical)
        assert unmatched == 0 and len(indices) == records[name]["length"]
        return indices

    assert images("train") == images("folder") == list(range(2002)), "both loaders read rows in canonical order"
    assert records["train_ds"]["files"][0].startswith("/data/cats_vs_dogs/")
    assert images("train_loader") == images("train_ds") and images("dogs") == [
        index for index in images("test_ds") if "/dog/" in canonical[index]
    ]
    assert images("widths") == images("test_ds") and records["tensors"]["files"] is None
    assert images("wrapped") == [images("test_ds")[0], images("test_ds")[2]]
    assert images("loaders['test']") == images("tv_test") and len(images("tv_train")) == 1402

    hugging_face = [record for record in found.records if not record["name"].startswith(("tv_", "loaders", "folder"))]
    honest = judge_image_split([record for record in hugging_face if record["name"] != "leaky_test"], canonical)
    assert honest.correct, honest.problems
    assert honest.describe() == (
        "train `train_loader`: 1,401 images; validation `val_loader`: 300 images; test `test_loader`: 301 images"
    )
    both = judge_image_split(hugging_face, canonical)
    assert both.test.name == "test_loader", "beside an honest test set, one drawn from training is not the test set"
    leaky = judge_image_split([record for record in hugging_face if not record["name"].startswith("test_")], canonical)
    assert leaky.test.name == "leaky_test"
    assert leaky.problems == [
        "the test set (leaky_test) shares 211 of its 211 images with the training set (train_loader): "
        "it was drawn from the training images"
    ]
    folder_split = judge_image_split([records[name] for name in ("tv_train", "tv_val", "tv_test")], canonical)
    assert folder_split.correct and folder_split.describe().startswith("train `tv_train`: 1,402 images")
