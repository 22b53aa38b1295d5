/*
 * Preloaded into the PyTorch peer on CPUs not made by Intel (see
 * scripts/bench-vs-pytorch.sh). oneMKL picks its kernels by CPU vendor as
 * well as by instruction set: on an AMD CPU with AVX-512, PyTorch's
 * float32 matrix product measured 106 GFLOP/s on one core against 237 with
 * this in place. Answering "yes" to MKL's vendor check lets the peer run
 * the kernels the CPU supports, so a ratio measures the evaluator, not
 * MKL's dispatch. Benchmarks only; never part of the appliance.
 */
int mkl_serv_intel_cpu_true(void) { return 1; }
