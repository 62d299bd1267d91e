"""The Lightning adapter drives the Tracker at its schedule (run only where Lightning is installed)."""

import pytest
import torch
import torch.nn.functional as F

import hessianlab

pl = pytest.importorskip("lightning.pytorch", reason="Lightning is not installed (pip install 'hessianlab[lightning]')")


class _Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.2)


def test_callback_records_every_epoch_and_logs(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    from hessianlab.tracking.lightning import TrackerCallback

    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 5, generator=gen), torch.randint(0, 3, (40,), generator=gen)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=10)
    module = _Module()
    tracker = hessianlab.Tracker(module, (x, y), samples="all", measures=("lambda1", "grad_norm", "eos"))
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", callbacks=[TrackerCallback(tracker)],
                         logger=CSVLogger(tmp_path), enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(module, loader)
    assert [(r["epoch"], r["step"]) for r in tracker.records] == [(1, 4), (2, 8)]
    assert tracker.records[-1]["lr"] == 0.2  # the trainer's optimizer was picked up for λ1·lr/2
    # the last record is the model as fitting left it
    fresh = hessianlab.Tracker(module, (x, y), samples="all", measures=("lambda1", "grad_norm")).measure()
    assert fresh["lambda1"] == tracker.records[-1]["lambda1"] and fresh["grad_norm"] == tracker.records[-1]["grad_norm"]
    logged = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text()
    assert "hessianlab/lambda1" in logged and "hessianlab/eos" in logged
