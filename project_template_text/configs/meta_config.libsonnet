// Settings shared by every experiment of this project.
{
  meta: {
    // One seed for everything: data splits, tokenizer training order, weight init, dropout.
    seed: 42,
    // Cached data pipeline outputs (relative to the project folder): the loaded reviews, the
    // trained tokenizers and the tokenized splits.
    default_cache_dir: 'local_cache',
    // Add 'wandb' to log to Weights & Biases (offline unless you are logged in).
    logger_enable: ['csv', 'tensorboard'],
  },
}
