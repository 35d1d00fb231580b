/**
 * Every buffer a forward and a backward use, computed from (B, T) and the config up front and
 * allocated once (llm.c's `ActivationTensors`). Without checkpointing each layer keeps its own block
 * buffers for backward; with checkpointing only the residual stream at each block's input is kept
 * (L + 1 buffers [M, C]) and one set of block buffers is shared: backward recomputes a block's forward
 * into it just before running that block's backward.
 *
 * M = B·T token rows; C hidden; Q = H·D; KV = Hkv·D; I intermediate; F = Q + 2·KV (Phi-3's qkv).
 */
import { type DType, reducePartials, type Runtime, type Tensor } from '@kvant/abi';
import { type DecoderConfig, kvWidth, qWidth } from './decoder-config';

/** One block's buffers (saved for backward, or shared when checkpointing). */
export interface BlockActivations {
  /** rmsnorm(x) before attention [M, C], and its rstd [M]. */
  readonly ln1: Tensor;
  readonly rstd1: Tensor;
  /** Phi-3's fused projection output [M, F] (undefined otherwise). */
  readonly qkv?: Tensor;
  /** q, k before rope [M, Q] / [M, KV]; v [M, KV]. */
  readonly qRaw: Tensor;
  readonly kRaw: Tensor;
  readonly v: Tensor;
  /** q, k after rope. */
  readonly q: Tensor;
  readonly k: Tensor;
  /** attention output [M, Q] and its log-sum-exp [B, H, T]. */
  readonly att: Tensor;
  readonly lse: Tensor;
  /** x + o_proj(att) [M, C]. */
  readonly resMid: Tensor;
  /** rmsnorm before the MLP [M, C], rstd [M]. */
  readonly ln2: Tensor;
  readonly rstd2: Tensor;
  /** Phi-3's fused gate/up output [M, 2I]. */
  readonly gateUp?: Tensor;
  /** gate, up [M, I]; act = silu(gate)·up [M, I]. */
  readonly gate: Tensor;
  readonly up: Tensor;
  readonly act: Tensor;
}

/** Gradient scratch, one set shared by all layers (only when training). */
export interface GradientScratch {
  /** Gradient flowing along the residual stream [M, C]. */
  readonly dRes: Tensor;
  /** Gradient of a norm's output [M, C], and of its input before it is added to dRes. */
  readonly dLn: Tensor;
  readonly dTmp: Tensor;
  readonly dAtt: Tensor;
  readonly dQ: Tensor;
  readonly dQr: Tensor;
  readonly dK: Tensor;
  readonly dKr: Tensor;
  readonly dV: Tensor;
  readonly dQkv?: Tensor;
  readonly dAct: Tensor;
  readonly dGate: Tensor;
  readonly dUp: Tensor;
  readonly dGateUp?: Tensor;
  /** nn.attention_backward's scratch [B, H, T]. */
  readonly delta: Tensor;
  /** rmsnorm_backward's dw when the norm weights are frozen [C]. */
  readonly dwJunk: Tensor;
  /** d loss / d per-row loss [M]. */
  readonly dloss: Tensor;
}

export interface Activations {
  readonly b: number;
  readonly t: number;
  readonly checkpointing: boolean;
  /** Token ids, position ids, shifted labels [M] (i32). */
  readonly ids: Tensor;
  readonly pos: Tensor;
  readonly labels: Tensor;
  /** The residual stream at the input of block l (l < L) and after the last block (l = L) [M, C]. */
  readonly residual: readonly Tensor[];
  /** L block buffer sets, or one shared set when checkpointing. */
  readonly blocks: readonly BlockActivations[];
  /** o_proj / down_proj output before the residual add [M, C]. */
  readonly proj: Tensor;
  /** final norm [M, C], rstd [M]. */
  readonly lnf: Tensor;
  readonly rstdf: Tensor;
  /** logits [M, V] (the gradient of the logits after backward: cross_entropy_backward works in place). */
  readonly logits: Tensor;
  /** per-row loss and log-sum-exp [M]. */
  readonly loss: Tensor;
  readonly lseCe: Tensor;
  /** linalg.sum's scratch and its output (the loss sum). */
  readonly partials: Tensor;
  readonly lossSum: Tensor;
  /** ones [M] for bias adds and bias gradients. */
  readonly ones: Tensor;
  readonly grads?: GradientScratch;
}

/** Bytes of each group of buffers, for the memory report. */
export interface ActivationMemory {
  readonly tokens: number;
  /** Everything a backward needs kept from the forward (what checkpointing reduces). */
  readonly savedBytes: number;
  /** Buffers of one block (saved ×L without checkpointing, ×1 with). */
  readonly blockBytes: number;
  /** The residual stream at each block's input, L + 1 buffers. */
  readonly residualBytes: number;
  /** final norm, logits, loss. */
  readonly headBytes: number;
  /** Gradient scratch shared by every layer (0 when not training). */
  readonly gradientScratchBytes: number;
  /** Inputs and small tables (ids, positions, labels, ones, reduction scratch). */
  readonly otherBytes: number;
  readonly totalBytes: number;
  /** The same total with the other checkpointing choice, for comparison. */
  readonly totalBytesOtherChoice: number;
}

type Shape = readonly number[];
const f32 = 4;

function blockShapes(c: DecoderConfig, b: number, t: number): Record<string, Shape> {
  const m = b * t;
  const [Q, KV, I, C] = [qWidth(c), kvWidth(c), c.intermediate, c.hidden];
  return {
    ln1: [m, C],
    rstd1: [m],
    ...(c.fused ? { qkv: [m, Q + 2 * KV] } : {}),
    qRaw: [m, Q],
    kRaw: [m, KV],
    v: [m, KV],
    q: [m, Q],
    k: [m, KV],
    att: [m, Q],
    lse: [b, c.heads, t],
    resMid: [m, C],
    ln2: [m, C],
    rstd2: [m],
    ...(c.fused ? { gateUp: [m, 2 * I] } : {}),
    gate: [m, I],
    up: [m, I],
    act: [m, I],
  };
}

function gradShapes(c: DecoderConfig, b: number, t: number): Record<string, Shape> {
  const m = b * t;
  const [Q, KV, I, C] = [qWidth(c), kvWidth(c), c.intermediate, c.hidden];
  return {
    dRes: [m, C],
    dLn: [m, C],
    dTmp: [m, C],
    dAtt: [m, Q],
    dQ: [m, Q],
    dQr: [m, Q],
    dK: [m, KV],
    dKr: [m, KV],
    dV: [m, KV],
    ...(c.fused ? { dQkv: [m, Q + 2 * KV], dGateUp: [m, 2 * I] } : {}),
    dAct: [m, I],
    dGate: [m, I],
    dUp: [m, I],
    delta: [b, c.heads, t],
    dwJunk: [C],
    dloss: [m],
  };
}

const bytesOf = (shapes: Record<string, Shape>) => Object.values(shapes).reduce((s, sh) => s + f32 * sh.reduce((a, d) => a * d, 1), 0);

/** The memory of the activations for a batch [B, T], computed without allocating anything. */
export function activationMemory(c: DecoderConfig, b: number, t: number, options: { checkpointing: boolean; training: boolean }): ActivationMemory {
  const m = b * t;
  const block = bytesOf(blockShapes(c, b, t));
  const residual = (c.layers + 1) * m * c.hidden * f32;
  const head = (m * c.hidden + m + m * c.vocab + 2 * m) * f32 + m * c.hidden * f32; // lnf, rstdf, logits, loss, lse; proj
  const grads = options.training ? bytesOf(gradShapes(c, b, t)) : 0;
  const other = 4 * m * 4 + reducePartials(m) * f32 + f32;
  const total = (ckpt: boolean) => (ckpt ? 1 : c.layers) * block + residual + head + grads + other;
  const savedBytes = (options.checkpointing ? 0 : c.layers * block) + residual + head;
  return {
    tokens: m,
    savedBytes,
    blockBytes: block,
    residualBytes: residual,
    headBytes: head,
    gradientScratchBytes: grads,
    otherBytes: other,
    totalBytes: total(options.checkpointing),
    totalBytesOtherChoice: total(!options.checkpointing),
  };
}

/** Allocate every buffer of a batch [B, T] once. */
export function allocateActivations(rt: Runtime, c: DecoderConfig, b: number, t: number, options: { checkpointing: boolean; training: boolean }): Activations {
  const m = b * t;
  const alloc = (shape: Shape, dtype: DType = 'f32') => rt.alloc(dtype, shape);
  const group = <T>(shapes: Record<string, Shape>) => Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, alloc(s)])) as T;
  const blocks: BlockActivations[] = [];
  for (let l = 0; l < (options.checkpointing ? 1 : c.layers); l++) blocks.push(group<BlockActivations>(blockShapes(c, b, t)));
  const ones = alloc([m]);
  rt.write(ones, new Float32Array(m).fill(1));
  return {
    b,
    t,
    checkpointing: options.checkpointing,
    ids: alloc([m], 'i32'),
    pos: alloc([b, t], 'i32'),
    labels: alloc([m], 'i32'),
    residual: Array.from({ length: c.layers + 1 }, () => alloc([m, c.hidden])),
    blocks,
    proj: alloc([m, c.hidden]),
    lnf: alloc([m, c.hidden]),
    rstdf: alloc([m]),
    logits: alloc([m, c.vocab]),
    loss: alloc([m]),
    lseCe: alloc([m]),
    partials: alloc([reducePartials(m)]),
    lossSum: alloc([1]),
    ones,
    ...(options.training ? { grads: group<GradientScratch>(gradShapes(c, b, t)) } : {}),
  };
}

/** Free every buffer. */
export function freeActivations(rt: Runtime, a: Activations): void {
  const all: Tensor[] = [a.ids, a.pos, a.labels, ...a.residual, a.proj, a.lnf, a.rstdf, a.logits, a.loss, a.lseCe, a.partials, a.lossSum, a.ones];
  for (const blk of a.blocks) all.push(...(Object.values(blk) as Tensor[]));
  if (a.grads) all.push(...(Object.values(a.grads) as Tensor[]));
  for (const t of all) rt.free(t);
}
