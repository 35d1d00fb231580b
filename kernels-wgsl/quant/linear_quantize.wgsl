// quant.linear_quantize: affine quantization to `bits`-bit codes, one scale and zero point per
// group of G = params.group consecutive elements (statistics over finite elements only).
//   symmetric:  amax = max|x|, qmax = 2^(bits-1) - 1, scale = amax / qmax, zero = 0,
//               q = clamp(round(x / scale), -qmax, qmax) as a two's-complement byte;
//   asymmetric: lo = min(0, min x), hi = max(0, max x), qmax = 2^bits - 1,
//               scale = (hi - lo) / qmax, zero = clamp(round(-lo / scale), 0, qmax),
//               q = clamp(round(x / scale) + zero, 0, qmax).
//   round is half-to-even (WGSL's round). scale == 0: every code is zero; NaN -> zero;
//   +-inf -> the extreme code on its side.
// Shapes: x f32[n], codes u8[n] (4 per u32 word), scale f32[groups], zero i32[groups].
// Idea: one workgroup per group (G is any size, so each invocation strides over the group, then
// a tree reduction). One invocation owns each output word: group g writes the words whose first
// byte lies in it; when G is not a multiple of 4 its last word reaches into the next group(s),
// whose statistics the workgroup then also computes (cooperatively) for those few bytes.
// Division is WGSL's `/`: on a GPU whose division is not correctly rounded, a code whose
// x / scale lies within the spec's epsilon of a half-integer may differ by one.
// #include "lib/grid.wgsl"
// #include "lib/f32bits.wgsl"

override WG: u32 = 256u;

var<workgroup> red_lo: array<f32, WG>;
var<workgroup> red_hi: array<f32, WG>;

struct Stats {
  scale: f32,
  zero: i32,
  qmin: f32,
  qmax: f32,
}

// Statistics of group g; every invocation of the workgroup must call it with the same g.
fn group_stats(g: u32, t: u32) -> Stats {
  let start = g * params.group;
  let end = min(params.n, start + params.group);
  var lo = 0.0;
  var hi = 0.0;
  for (var i = start + t; i < end; i = i + WG) {
    let v = x[i];
    if (is_finite(v)) {
      if (v < lo) { lo = v; }
      if (v > hi) { hi = v; }
    }
  }
  red_lo[t] = lo;
  red_hi[t] = hi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) {
      red_lo[t] = min(red_lo[t], red_lo[t + s]);
      red_hi[t] = max(red_hi[t], red_hi[t + s]);
    }
    workgroupBarrier();
  }
  lo = red_lo[0];
  hi = red_hi[0];
  workgroupBarrier();                            // a later call may overwrite red_lo / red_hi

  var st: Stats;
  if (params.symmetric == 1u) {
    let amax = bitcast<f32>(max(abs_bits(lo), abs_bits(hi)));   // exact, and +0 when empty
    let qmax = f32((1u << (params.bits - 1u)) - 1u);
    st = Stats(amax / qmax, 0, -qmax, qmax);
  } else {
    let qmax = f32((1u << params.bits) - 1u);
    let scale = (hi - lo) / qmax;
    var zero = 0;
    if (abs_bits(scale) != 0u && !is_inf(scale)) {
      zero = i32(clamp(round(-lo / scale), 0.0, qmax));
    }
    st = Stats(scale, zero, 0.0, qmax);
  }
  return st;
}

// The code byte of v in a group with statistics st.
fn code_of(v: f32, st: Stats) -> u32 {
  let sb = bitcast<u32>(st.scale);
  var q = st.zero;
  if ((sb & 0x7fffffffu) == 0u || is_nan(v)) {
    q = st.zero;
  } else if (bits_is_inf(sb)) {
    q = 0;                                       // finite v: round(v / inf) + 0; inf v: NaN -> 0
  } else if (is_inf(v)) {
    q = i32(select(st.qmax, st.qmin, (bitcast<u32>(v) & 0x80000000u) != 0u));   // sign on the bits
  } else {
    let r = v / st.scale;
    if (is_finite(r)) {
      q = i32(clamp(round(r) + f32(st.zero), st.qmin, st.qmax));
    } else {
      // The quotient overflowed: decide on its sign bit rather than clamp an infinity, which WGSL
      // leaves indeterminate (its IEEE answer is the extreme code on that side).
      q = i32(select(st.qmax, st.qmin, (bitcast<u32>(r) & 0x80000000u) != 0u));
    }
  }
  return u32(q) & 0xffu;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let g = flat_workgroup(wid, nwg);
  let groups = (params.n - 1u) / params.group + 1u;
  if (g >= groups) { return; }
  let st = group_stats(g, t);
  if (t == 0u) {
    scale[g] = st.scale;
    zero[g] = st.zero;
  }
  let start = g * params.group;
  let end = min(params.n, start + params.group);
  let w0 = (start + 3u) / 4u;                    // words whose first byte lies in [start, end)
  let w1 = (end + 3u) / 4u;
  for (var w = w0 + t; w < w1; w = w + WG) {
    if (4u * w + 4u <= end) {
      var word = 0u;
      for (var b = 0u; b < 4u; b = b + 1u) { word = word | (code_of(x[4u * w + b], st) << (8u * b)); }
      codes[w] = word;
    }
  }
  // The last word reaches past the group: into later groups, or past n (bytes kept as they are).
  if (w1 > w0 && 4u * w1 > end) {
    let w = w1 - 1u;
    var word = 0u;
    if (t == 0u && 4u * w1 > params.n) { word = codes[w]; }
    var cur = st;
    var cur_g = g;
    let stop = min(params.n, 4u * w1);
    for (var e = 4u * w; e < stop; e = e + 1u) {
      let ge = e / params.group;
      if (ge != cur_g) {
        cur = group_stats(ge, t);
        cur_g = ge;
      }
      let b = e % 4u;
      word = (word & ~(0xffu << (8u * b))) | (code_of(x[e], cur) << (8u * b));
    }
    if (t == 0u) { codes[w] = word; }
  }
}
