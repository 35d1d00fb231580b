/**
 * The LoRA scaling s, in exactly one place: s = lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA
 * (Kalajdzievski 2023, arXiv 2312.03732), as PEFT's `LoraLayer.update_layer` sets it. The layer
 * multiplies B·A·x by s; merging adds s·B·A to W.
 */
export function loraScaling(r: number, loraAlpha: number, useRslora: boolean): number {
  return useRslora ? loraAlpha / Math.sqrt(r) : loraAlpha / r;
}
