// The runtime launches a 2D grid when the workgroup count exceeds
// maxComputeWorkgroupsPerDimension; kernels see one flat workgroup index.
fn flat_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}
