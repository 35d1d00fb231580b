/**
 * @kvant/model — the Llama-family decoder: forward, backward, generation, tokenizer, chat templates.
 * Nothing is exported yet; file formats (safetensors, Hugging Face folders and configs) live in
 * @kvant/formats.
 */
export {};
