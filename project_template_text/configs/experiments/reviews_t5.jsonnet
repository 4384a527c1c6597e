// Text-to-text: a small T5 built from a config reads a review and writes "great" or "other".
// Inference generates with model.generate; metrics.json has exact match, BLEU, chrF and ROUGE.
//   runway-run reviews_t5
//   runway-infer reviews_t5 beam4 --opts test.generation_kwargs.num_beams=4
local meta = import '../meta_config.libsonnet';
local data = import '../data_config.libsonnet';
local model = import '../model_config.libsonnet';

meta + data.t5(max_length=128) + model.t5_from_config(epochs=3) + {
}
