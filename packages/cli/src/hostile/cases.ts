/**
 * The generator of the hostile-input suite: malformed model folders, odd output locations and
 * hostile flags, each a case with the exit status and the error it must produce. Every case
 * starts from a copy of a tiny valid model (`base`), changes one thing, and says what the
 * command must answer. Add a case here and hostile.test.ts runs it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor, type TensorToWrite } from '@kvant/formats';

/** One hostile case: `make` builds the input under `root`, returns the command line. */
export interface HostileCase {
  readonly name: string;
  /** The issue-8 item it reproduces, when there is one. */
  readonly item?: string;
  /** Builds the input in `root` (a fresh folder) from the valid model `base`; returns argv after `kvant`. */
  readonly make: (root: string, base: string) => string[];
  /** 0: success; 1: refused with a typed error; 2: usage error. */
  readonly exit: 0 | 1 | 2;
  /** What stderr must say (the file, tensor or field named). */
  readonly says?: RegExp;
  /** Must run in a child process (could hang or needs a signal). */
  readonly spawn?: boolean;
  /** Extra check on success: the output folder. */
  readonly check?: (out: string) => void;
}

const Q0 = 'model.layers.0.self_attn.q_proj.weight';

/** Copy the base model to root/model and return its path. */
export function copyBase(root: string, base: string): string {
  const model = join(root, 'model');
  cpSync(base, model, { recursive: true });
  return model;
}

/** Rewrite model/model.safetensors through `edit` (tensors as a mutable map of name -> tensor). */
export function editWeights(model: string, edit: (t: Map<string, TensorToWrite>) => void): void {
  const path = join(model, 'model.safetensors');
  const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(path)));
  const map = new Map<string, TensorToWrite>([...tensors].map(([k, v]: [string, SafetensorsTensor]) => [k, v]));
  edit(map);
  writeFileSync(path, encodeSafetensors(map, { format: 'pt' }));
}

/** Rewrite model/config.json through `edit`. */
export function editConfig(model: string, edit: (c: Record<string, unknown>) => void): void {
  const path = join(model, 'config.json');
  const c = JSON.parse(readFileSync(path, 'utf8'));
  edit(c);
  writeFileSync(path, JSON.stringify(c, null, 2));
}

const f32 = (n: number, fill: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => fill(i));
const bf16Of = (t: TensorToWrite) => t.data as Uint16Array;

/** A raw safetensors file from a header object and a data length. */
function rawSafetensors(header: string, dataBytes: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

const quantize = (model: string, root: string, ...extra: string[]) => ['quantize', model, '--out', join(root, 'out'), ...extra];

/** Every case of the suite. */
export function hostileCases(): HostileCase[] {
  return [
    // --- issue 8.1: --force never deletes the input
    { name: 'force onto the input itself', item: '1', exit: 1, says: /is the input/, make: (r, b) => { const m = copyBase(r, b); return ['quantize', m, '--out', m, '--force']; } },
    {
      name: 'force onto the folder containing the input (and notes.txt)',
      item: '1',
      exit: 1,
      says: /contains the input/,
      make: (r, b) => {
        const folder = join(r, 'folder');
        mkdirSync(folder);
        cpSync(b, join(folder, 'model'), { recursive: true });
        writeFileSync(join(folder, 'notes.txt'), 'mine');
        return ['quantize', join(folder, 'model'), '--out', folder, '--force'];
      },
    },
    { name: 'force onto a file inside the input', item: '1', exit: 1, says: /is the input|inside the input/, make: (r, b) => { const m = copyBase(r, b); return ['quantize', m, '--out', join(m, 'config.json'), '--force']; } },
    { name: 'output inside the input', item: '1', exit: 1, says: /is inside the input/, make: (r, b) => { const m = copyBase(r, b); return ['quantize', m, '--out', join(m, 'q4'), '--force']; } },
    {
      name: 'force onto a symbolic link to the input',
      item: '1',
      exit: 1,
      says: /the input/,
      make: (r, b) => {
        const m = copyBase(r, b);
        symlinkSync(m, join(r, 'link'));
        return ['quantize', m, '--out', join(r, 'link'), '--force'];
      },
    },
    // --- issue 8.2: nothing claims 4-bit that is not
    { name: 'linear weight stored as F64', item: '2', exit: 1, says: new RegExp(`${Q0}.*dtype F32, F16 or BF16.*found dtype F64`), make: (r, b) => { const m = copyBase(r, b); editWeights(m, (t) => { const w = t.get(Q0)!; t.set(Q0, { dtype: 'F64', shape: w.shape, data: new Float64Array(bf16Of(w).length) }); }); return quantize(m, r); } },
    { name: 'linear weight stored as I32', item: '2', exit: 1, says: /q_proj\.weight.*found dtype I32/, make: (r, b) => { const m = copyBase(r, b); editWeights(m, (t) => { const w = t.get(Q0)!; t.set(Q0, { dtype: 'I32', shape: w.shape, data: new Int32Array(bf16Of(w).length) }); }); return quantize(m, r); } },
    { name: 'a 3-D q_proj', item: '2', exit: 1, says: /q_proj\.weight.*expected shape \[64, 64\].*found shape \[2, 32, 64\]/, make: (r, b) => { const m = copyBase(r, b); editWeights(m, (t) => { const w = t.get(Q0)!; t.set(Q0, { ...w, shape: [2, 32, 64] }); }); return quantize(m, r); } },
    { name: 'BERT-style config and names', item: '2', exit: 1, says: /config\.json.*"model_type".*found "bert"/, make: (r, b) => { const m = copyBase(r, b); editConfig(m, (c) => { c.model_type = 'bert'; }); return quantize(m, r); } },
    { name: 'unknown model_type with Llama names', item: '2', exit: 1, says: /"model_type" one of llama.*found "my-llama"/, make: (r, b) => { const m = copyBase(r, b); editConfig(m, (c) => { c.model_type = 'my-llama'; }); return quantize(m, r); } },
    { name: 'shapes disagree with config.json', item: '2', exit: 1, says: /expected shape \[.*\].*config\.json.*found shape/, make: (r, b) => { const m = copyBase(r, b); editConfig(m, (c) => { c.intermediate_size = 96; }); return quantize(m, r); } },
    { name: 'a layer config.json does not have', item: '2', exit: 1, says: /model\.layers\.1\..*(no such tensor|not describe)/, make: (r, b) => { const m = copyBase(r, b); editConfig(m, (c) => { c.num_hidden_layers = 1; }); return quantize(m, r); } },
    { name: 'a missing linear weight', item: '2', exit: 1, says: new RegExp(`${Q0}.*no such tensor`), make: (r, b) => { const m = copyBase(r, b); editWeights(m, (t) => t.delete(Q0)); return quantize(m, r); } },
    {
      name: 'a module kept with --skip-modules is listed in llm_int8_skip_modules',
      item: '2',
      exit: 0,
      make: (r, b) => quantize(copyBase(r, b), r, '--skip-modules', 'down_proj'),
      check: (out) => {
        const q = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config;
        if (JSON.stringify(q.llm_int8_skip_modules) !== '["down_proj","lm_head"]') throw new Error(`llm_int8_skip_modules: ${JSON.stringify(q.llm_int8_skip_modules)}`);
      },
    },
    { name: '--skip-modules naming nothing', item: '2', exit: 1, says: /--skip-modules.*"nope", which matches no linear layer/, make: (r, b) => quantize(copyBase(r, b), r, '--skip-modules', 'nope') },
    // --- issue 8.3: non-finite weights
    { name: 'NaN in a weight', item: '3', exit: 1, says: new RegExp(`${Q0}.*2 non-finite elements.*found NaN at element 5`), make: (r, b) => { const m = copyBase(r, b); editWeights(m, (t) => { const d = bf16Of(t.get(Q0)!); d[5] = 0x7fc0; d[9] = 0x7fc0; }); return quantize(m, r); } },
    { name: '+Inf in a weight with --double-quant', item: '3', exit: 1, says: /q_proj\.weight.*found Infinity at element 0/, make: (r, b) => { const m = copyBase(r, b); editWeights(m, (t) => { bf16Of(t.get(Q0)!)[0] = 0x7f80; }); return quantize(m, r, '--double-quant'); } },
    { name: 'NaN with --allow-nonfinite is mapped and reported', item: '3', exit: 0, make: (r, b) => { const m = copyBase(r, b); editWeights(m, (t) => { bf16Of(t.get(Q0)!)[3] = 0x7fc0; }); return quantize(m, r, '--allow-nonfinite'); } },
    // --- issue 8.4: tensors dropped
    {
      name: 'a shard holding a tensor its weight_map does not list',
      item: '4',
      exit: 1,
      says: /lm_head\.weight.*weight_map does not list/,
      make: (r, b) => {
        const m = copyBase(r, b);
        const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(m, 'model.safetensors'))));
        const names = [...tensors.keys()].filter((n) => n !== 'lm_head.weight');
        names.push('lm_head.weight'); // in the second shard, which the index does not list it for
        const a = new Map(names.slice(0, 10).map((n) => [n, tensors.get(n)!]));
        const c = new Map(names.slice(10).map((n) => [n, tensors.get(n)!]));
        writeFileSync(join(m, 'model-00001-of-00002.safetensors'), encodeSafetensors(a));
        writeFileSync(join(m, 'model-00002-of-00002.safetensors'), encodeSafetensors(c));
        const weightMap: Record<string, string> = {};
        for (const n of a.keys()) weightMap[n] = 'model-00001-of-00002.safetensors';
        for (const n of c.keys()) if (n !== 'lm_head.weight') weightMap[n] = 'model-00002-of-00002.safetensors';
        writeFileSync(join(m, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
        rmSync(join(m, 'model.safetensors'));
        return quantize(m, r);
      },
    },
    {
      name: 'model.safetensors and an index: model.safetensors wins, as in transformers',
      item: '4',
      exit: 0,
      make: (r, b) => {
        const m = copyBase(r, b);
        writeFileSync(join(m, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { x: 'missing.safetensors' } }));
        return quantize(m, r);
      },
    },
    // --- issue 8.5: errors up front, typed, naming the path
    { name: 'output under /proc', item: '5', exit: 1, says: /\/proc\/kvant-x.*expected a/, make: (r, b) => ['quantize', copyBase(r, b), '--out', '/proc/kvant-x/out'] },
    {
      name: 'output below a file',
      item: '5',
      exit: 1,
      says: /file\.txt.*ENOTDIR|file\.txt.*not a folder/,
      make: (r, b) => {
        writeFileSync(join(r, 'file.txt'), 'x');
        return ['quantize', copyBase(r, b), '--out', join(r, 'file.txt', 'sub')];
      },
    },
    { name: 'tokenizer.json is a folder', item: '5', exit: 1, says: /tokenizer\.json: expected .*regular file.*found a folder/, make: (r, b) => { const m = copyBase(r, b); rmSync(join(m, 'tokenizer.json')); mkdirSync(join(m, 'tokenizer.json')); return quantize(m, r); } },
    { name: 'tokenizer.json is a dangling link', item: '5', exit: 1, says: /tokenizer\.json: expected .*found a symbolic link to nothing/, make: (r, b) => { const m = copyBase(r, b); rmSync(join(m, 'tokenizer.json')); symlinkSync(join(r, 'gone'), join(m, 'tokenizer.json')); return quantize(m, r); } },
    {
      name: 'a full disk (file-size limit, EFBIG)',
      item: '5',
      exit: 1,
      spawn: true,
      says: /FileSystemError: .*out\/model\.safetensors.*EFBIG/,
      make: (r, b) => ['@ulimit-f=64', ...quantize(copyBase(r, b), r)],
    },
    // --- issue 8.7: FIFOs never hang
    {
      name: 'model.safetensors is a FIFO',
      item: '7',
      exit: 1,
      spawn: true,
      says: /model\.safetensors.*a named pipe \(FIFO\)/,
      make: (r, b) => {
        const m = copyBase(r, b);
        rmSync(join(m, 'model.safetensors'));
        execFileSync('mkfifo', [join(m, 'model.safetensors')]);
        return quantize(m, r);
      },
    },
    {
      name: 'config.json is a FIFO (kvant memory)',
      item: '7',
      exit: 1,
      spawn: true,
      says: /config\.json.*a named pipe \(FIFO\)/,
      make: (r, b) => {
        const m = copyBase(r, b);
        rmSync(join(m, 'config.json'));
        execFileSync('mkfifo', [join(m, 'config.json')]);
        return ['memory', m];
      },
    },
    // --- issue 8.8: the smaller ones
    { name: '"quantization_config": null', item: '8', exit: 1, says: /config\.json: expected no "quantization_config".*null/, make: (r, b) => { const m = copyBase(r, b); editConfig(m, (c) => { c.quantization_config = null; }); return quantize(m, r); } },
    { name: 'an empty linear weight', item: '8', exit: 1, says: /q_proj\.weight.*found shape \[0, 64\]/, make: (r, b) => { const m = copyBase(r, b); editWeights(m, (t) => t.set(Q0, { dtype: 'BF16', shape: [0, 64], data: new Uint16Array(0) })); return quantize(m, r); } },
    { name: 'a tensor named like a bitsandbytes statistic', item: '8', exit: 1, says: new RegExp(`model\\.safetensors: tensor "${Q0}\\.absmax"`), make: (r, b) => { const m = copyBase(r, b); editWeights(m, (t) => t.set(`${Q0}.absmax`, { dtype: 'F32', shape: [1], data: f32(1, () => 1) })); return quantize(m, r); } },
    { name: 'config.json is a folder (quantize)', item: '8', exit: 1, says: /model\/config\.json: expected .*found a folder/, make: (r, b) => { const m = copyBase(r, b); rmSync(join(m, 'config.json')); mkdirSync(join(m, 'config.json')); return quantize(m, r); } },
    { name: 'config.json is a folder (memory)', item: '8', exit: 1, says: /model\/config\.json: expected .*found a folder/, make: (r, b) => { const m = copyBase(r, b); rmSync(join(m, 'config.json')); mkdirSync(join(m, 'config.json')); return ['memory', m]; } },
    { name: 'float dims in a safetensors header', item: '8', exit: 1, says: /tensor "w".*number literal 2\.0 in shape/, make: (r, b) => { const m = copyBase(r, b); writeFileSync(join(m, 'model.safetensors'), rawSafetensors('{"w":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}}', 2)); return quantize(m, r); } },
    {
      name: 'a shard named ..weird.safetensors is fine',
      item: '8',
      exit: 0,
      make: (r, b) => {
        const m = copyBase(r, b);
        const weightMap: Record<string, string> = {};
        const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(m, 'model.safetensors'))));
        for (const n of tensors.keys()) weightMap[n] = '..weird.safetensors';
        cpSync(join(m, 'model.safetensors'), join(m, '..weird.safetensors'));
        rmSync(join(m, 'model.safetensors'));
        writeFileSync(join(m, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
        return quantize(m, r);
      },
    },
    { name: 'a shard outside the folder (../x)', exit: 1, says: /a shard file name relative to the index folder.*"\.\.\/x\.safetensors"/, make: (r, b) => { const m = copyBase(r, b); writeFileSync(join(m, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { [Q0]: '../x.safetensors' } })); rmSync(join(m, 'model.safetensors')); return quantize(m, r); } },
    { name: 'memory: duplicate JSON keys', item: '8', exit: 1, says: /config\.json: expected valid JSON with each key once, found duplicate key "hidden_size"/, make: (r, b) => { const m = copyBase(r, b); writeFileSync(join(m, 'config.json'), readFileSync(join(m, 'config.json'), 'utf8').replace('{', '{"hidden_size": 1,')); return ['memory', m]; } },
    { name: 'memory: LoRA rank 1e308', item: '8', exit: 2, says: /--lora-r: expected an integer from 1 to 1048576, found "1e308"/, make: () => ['memory', 'phi-3-mini', '--lora-r', '1e308'] },
    { name: 'quantize: an unknown flag is a usage error', item: '8', exit: 2, says: /Unknown option '--bogus'/, make: (r, b) => [...quantize(copyBase(r, b), r), '--bogus'] },
    { name: 'quantize: --blocksize abc is a usage error', item: '8', exit: 2, says: /--blocksize: expected an integer/, make: (r, b) => [...quantize(copyBase(r, b), r), '--blocksize', 'abc'] },
    // --- more of what a disk can hold
    { name: 'config.json is an array', exit: 1, says: /config\.json: expected a JSON object/, make: (r, b) => { const m = copyBase(r, b); writeFileSync(join(m, 'config.json'), '[]'); return quantize(m, r); } },
    { name: 'config.json cut short', exit: 1, says: /config\.json: expected valid JSON/, make: (r, b) => { const m = copyBase(r, b); writeFileSync(join(m, 'config.json'), '{"model_type": "llama",'); return quantize(m, r); } },
    { name: 'config.json with hidden_size 0', exit: 1, says: /"hidden_size" to be a positive integer, found 0/, make: (r, b) => { const m = copyBase(r, b); editConfig(m, (c) => { c.hidden_size = 0; }); return ['memory', m]; } },
    { name: 'an empty model.safetensors', exit: 1, says: /model\.safetensors: expected at least 8 bytes/, make: (r, b) => { const m = copyBase(r, b); writeFileSync(join(m, 'model.safetensors'), ''); return quantize(m, r); } },
    { name: 'model.safetensors links to /dev/zero', exit: 1, says: /model\.safetensors.*a character device/, make: (r, b) => { const m = copyBase(r, b); rmSync(join(m, 'model.safetensors')); symlinkSync('/dev/zero', join(m, 'model.safetensors')); return quantize(m, r); } },
    { name: 'model.safetensors is a link loop', exit: 1, says: /model\.safetensors.*(ELOOP|symbolic links)/, make: (r, b) => { const m = copyBase(r, b); rmSync(join(m, 'model.safetensors')); symlinkSync(join(m, 'model.safetensors'), join(m, 'model.safetensors')); return quantize(m, r); } },
    { name: 'model.safetensors is a folder', exit: 1, says: /model\.safetensors.*found a folder/, make: (r, b) => { const m = copyBase(r, b); rmSync(join(m, 'model.safetensors')); mkdirSync(join(m, 'model.safetensors')); return quantize(m, r); } },
    { name: 'no weights at all', exit: 1, says: /model\.safetensors or model\.safetensors\.index\.json/, make: (r, b) => { const m = copyBase(r, b); rmSync(join(m, 'model.safetensors')); return quantize(m, r); } },
    { name: 'an index naming a missing shard', exit: 1, says: /missing\.safetensors/, make: (r, b) => { const m = copyBase(r, b); writeFileSync(join(m, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { [Q0]: 'missing.safetensors' } })); rmSync(join(m, 'model.safetensors')); return quantize(m, r); } },
    { name: 'a model folder that is a file', exit: 1, says: /expected a model folder/, make: (r) => { writeFileSync(join(r, 'model'), 'x'); return quantize(join(r, 'model'), r); } },
    { name: 'the output exists without --force', exit: 1, says: /OutputExistsError/, make: (r, b) => { mkdirSync(join(r, 'out')); return quantize(copyBase(r, b), r); } },
    { name: 'memory of a valid folder', exit: 0, make: (r, b) => ['memory', copyBase(r, b)] },
    { name: 'a valid model quantizes', exit: 0, make: (r, b) => quantize(copyBase(r, b), r, '--double-quant') },
  ];
}
