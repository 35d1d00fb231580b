// The pass of a multi-pass kernel (launch.ts `passes`): one dispatch of such a kernel runs
// `count` compute dispatches in order, pass `index` = 0, 1, ..., count - 1, each seeing the
// writes of the ones before it. The runtime binds this uniform at group 1 with a dynamic offset
// per pass; the kernel's own params (group 0) are the same for every pass.
struct PassInfo {
  index: u32,
  count: u32,
  _pad0: u32,
  _pad1: u32,
}
@group(1) @binding(0) var<uniform> pass_info: PassInfo;
