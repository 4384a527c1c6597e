"""Project models (plain torch.nn.Modules used by the executors)."""
