// Depthwise 2-d convolution (one kh x kw filter per channel), forward, input gradient, weight gradient.
//
//   y[n, c, i, j]  = b[c] + sum_{a, e} w[c, a, e] * x[n, c, i*sh + a*dh - pt, j*sw + e*dw - pl]
//   dx[n, c, r, s] = sum over (a, e, i, j) with r = i*sh + a*dh - pt, s = j*sw + e*dw - pl of dy[n, c, i, j] w[c, a, e]
//   dw[c, a, e]    = sum_{n, i, j} dy[n, c, i, j] * x[n, c, i*sh + a*dh - pt, j*sw + e*dw - pl]
// x outside [0, H) x [0, W) is the zero padding (never materialised). Any kernel size, stride, padding
// and dilation. Compiled by kernels/cuda/depthwise_conv.py with NVRTC (cupy.RawModule), -DSCALAR=float|double.
//
// dwconv_fwd_tiled: a block computes a TH x TW tile of one (n, c) plane from the input patch it needs
//   ((TH-1)*sh + (kh-1)*dh + 1) x ((TW-1)*sw + (kw-1)*dw + 1), staged in shared memory with the filter;
//   the taps are summed in the reference's order (a, e row-major), the bias added last.
// dwconv_fwd_direct: one thread per output, reading x through the cache (for patches too big to stage).
// dwconv_dx: one thread per input element gathers the dy entries that read it (no atomics).
// dwconv_dw_tiled: a block owns (channel c, output tile, chunk of taps) and loops over n: dy tile and x
//   patch in shared memory, each thread sums one tap over a strided share of the tile's outputs
//   (in SCALAR per plane, in double across planes); the shares are added in a fixed order and one
//   float64 partial per (tile, c, tap) is written: the host sums them over tiles (deterministic).
// dwconv_dw_direct: a block per (c, tap) reduces over all n, i, j (for patches too big to stage).

#ifndef SCALAR
#define SCALAR float
#endif
typedef SCALAR T;
typedef long long ll;

#define NT 256
#define TH 16
#define TW 32

extern "C" __global__ void __launch_bounds__(NT)
dwconv_fwd_tiled(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias, int has_bias,
                 T* __restrict__ y, ll C, int H, int W, int Ho, int Wo, int kh, int kw, int sh, int sw, int dh,
                 int dw, int pt, int pl, int tiles_x, int tiles) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* ws = reinterpret_cast<T*>(smem_raw);                            // (kh * kw)
    T* patch = ws + kh * kw;                                           // (PH x PW)
    const ll plane = blockIdx.x / tiles;
    const int tile = blockIdx.x % tiles;
    const int c = (int)(plane % C);
    const int oy0 = (tile / tiles_x) * TH, ox0 = (tile % tiles_x) * TW;
    const int PH = (TH - 1) * sh + (kh - 1) * dh + 1;
    const int PW = (TW - 1) * sw + (kw - 1) * dw + 1;
    const int iy0 = oy0 * sh - pt, ix0 = ox0 * sw - pl;               // input corner of the patch
    const T* xp = x + plane * H * W;
    for (int t = threadIdx.x; t < kh * kw; t += NT) ws[t] = w[(ll)c * kh * kw + t];
    for (int t = threadIdx.x; t < PH * PW; t += NT) {
        int r = iy0 + t / PW, s = ix0 + t % PW;
        patch[t] = (r >= 0 && r < H && s >= 0 && s < W) ? xp[(ll)r * W + s] : (T)0;
    }
    __syncthreads();
    const int tx = threadIdx.x % TW, ty = threadIdx.x / TW;           // 8 rows of 32 threads
    const T b = has_bias ? bias[c] : (T)0;
    for (int oy = ty; oy < TH; oy += NT / TW) {
        const int i = oy0 + oy, j = ox0 + tx;
        if (i >= Ho || j >= Wo) continue;
        T acc = (T)0;
        for (int a = 0; a < kh; ++a) {
            const T* prow = patch + (oy * sh + a * dh) * PW + tx * sw;
            const T* wrow = ws + a * kw;
            for (int e = 0; e < kw; ++e) acc = fma(wrow[e], prow[e * dw], acc);   // y += w[c,a,e] * x[..]
        }
        y[(plane * Ho + i) * Wo + j] = acc + b;
    }
}

extern "C" __global__ void __launch_bounds__(NT)
dwconv_fwd_direct(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias, int has_bias,
                  T* __restrict__ y, ll C, int H, int W, int Ho, int Wo, int kh, int kw, int sh, int sw, int dh,
                  int dw, int pt, int pl, ll total) {
    for (ll o = blockIdx.x * (ll)NT + threadIdx.x; o < total; o += (ll)gridDim.x * NT) {
        const int j = (int)(o % Wo), i = (int)((o / Wo) % Ho);
        const ll plane = o / ((ll)Ho * Wo);
        const int c = (int)(plane % C);
        const T* xp = x + plane * H * W;
        const T* wc = w + (ll)c * kh * kw;
        T acc = (T)0;
        for (int a = 0; a < kh; ++a) {
            const int r = i * sh + a * dh - pt;
            if (r < 0 || r >= H) continue;
            for (int e = 0; e < kw; ++e) {
                const int s = j * sw + e * dw - pl;
                if (s >= 0 && s < W) acc = fma(wc[a * kw + e], xp[(ll)r * W + s], acc);
            }
        }
        y[o] = acc + (has_bias ? bias[c] : (T)0);
    }
}

extern "C" __global__ void __launch_bounds__(NT)
dwconv_dx(const T* __restrict__ dy, const T* __restrict__ w, T* __restrict__ dx, ll C, int H, int W, int Ho,
          int Wo, int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl, ll total) {
    for (ll o = blockIdx.x * (ll)NT + threadIdx.x; o < total; o += (ll)gridDim.x * NT) {
        const int s = (int)(o % W), r = (int)((o / W) % H);
        const ll plane = o / ((ll)H * W);
        const int c = (int)(plane % C);
        const T* dyp = dy + plane * Ho * Wo;
        const T* wc = w + (ll)c * kh * kw;
        T acc = (T)0;
        for (int a = 0; a < kh; ++a) {
            const int num_i = r + pt - a * dh;                          // = i * sh for the output row i
            if (num_i < 0 || num_i % sh) continue;
            const int i = num_i / sh;
            if (i >= Ho) continue;
            for (int e = 0; e < kw; ++e) {
                const int num_j = s + pl - e * dw;
                if (num_j < 0 || num_j % sw) continue;
                const int j = num_j / sw;
                if (j < Wo) acc = fma(dyp[(ll)i * Wo + j], wc[a * kw + e], acc);  // dx += dy[i, j] w[c, a, e]
            }
        }
        dx[o] = acc;
    }
}

extern "C" __global__ void __launch_bounds__(NT)
dwconv_dw_tiled(const T* __restrict__ dy, const T* __restrict__ x, double* __restrict__ partial, ll N, ll C, int H,
                int W, int Ho, int Wo, int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl, int tiles_x,
                int tiles, int kc, int nsplit, int n_chunks) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    double* red = reinterpret_cast<double*>(smem_raw);                // (NT)
    T* dys = reinterpret_cast<T*>(red + NT);                          // (TH x TW)
    T* patch = dys + TH * TW;                                          // (PH x PW)
    const int K = kh * kw;
    const int chunk = blockIdx.x % n_chunks;
    const int tile = (blockIdx.x / n_chunks) % tiles;
    const ll c = blockIdx.x / ((ll)n_chunks * tiles);
    const int oy0 = (tile / tiles_x) * TH, ox0 = (tile % tiles_x) * TW;
    const int PH = (TH - 1) * sh + (kh - 1) * dh + 1;
    const int PW = (TW - 1) * sw + (kw - 1) * dw + 1;
    const int iy0 = oy0 * sh - pt, ix0 = ox0 * sw - pl;
    const int tid = threadIdx.x;
    const int tap = chunk * kc + tid % kc, part = tid / kc;
    const bool mine = tid < kc * nsplit && tap < K;
    const int a = mine ? tap / kw : 0, e = mine ? tap % kw : 0;
    const int th = min(TH, Ho - oy0), tw = min(TW, Wo - ox0);        // valid outputs of this tile
    double acc = 0.0;
    for (ll n = 0; n < N; ++n) {
        const ll plane = n * C + c;
        __syncthreads();
        for (int t = tid; t < TH * TW; t += NT) {
            int i = oy0 + t / TW, j = ox0 + t % TW;
            dys[t] = (i < Ho && j < Wo) ? dy[(plane * Ho + i) * Wo + j] : (T)0;
        }
        for (int t = tid; t < PH * PW; t += NT) {
            int r = iy0 + t / PW, s = ix0 + t % PW;
            patch[t] = (r >= 0 && r < H && s >= 0 && s < W) ? x[(plane * H + r) * W + s] : (T)0;
        }
        __syncthreads();
        if (mine) {
            T sum = (T)0;                                              // dw[c,a,e] += dy[i,j] x[i*sh+a*dh-pt, ..]
            for (int o = part; o < th * tw; o += nsplit) {
                const int oy = o / tw, ox = o % tw;
                sum = fma(dys[oy * TW + ox], patch[(oy * sh + a * dh) * PW + ox * sw + e * dw], sum);
            }
            acc += (double)sum;
        }
    }
    red[tid] = acc;
    __syncthreads();
    if (tid < kc && chunk * kc + tid < K) {
        double total = 0.0;
        for (int p = 0; p < nsplit; ++p) total += red[tid + p * kc];   // fixed order: deterministic
        partial[((ll)tile * C + c) * K + chunk * kc + tid] = total;
    }
}

extern "C" __global__ void __launch_bounds__(NT)
dwconv_dw_direct(const T* __restrict__ dy, const T* __restrict__ x, double* __restrict__ dwout, ll N, ll C, int H,
                 int W, int Ho, int Wo, int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl) {
    __shared__ double red[NT];
    const int K = kh * kw;
    const ll c = blockIdx.x / K;
    const int tap = blockIdx.x % K, a = tap / kw, e = tap % kw;
    const ll per_plane = (ll)Ho * Wo;
    double acc = 0.0;
    for (ll t = threadIdx.x; t < N * per_plane; t += NT) {
        const ll n = t / per_plane;
        const int i = (int)((t % per_plane) / Wo), j = (int)(t % Wo);
        const int r = i * sh + a * dh - pt, s = j * sw + e * dw - pl;
        if (r < 0 || r >= H || s < 0 || s >= W) continue;
        const ll plane = n * C + c;
        acc += (double)dy[(plane * Ho + i) * Wo + j] * (double)x[(plane * H + r) * W + s];
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int step = NT / 2; step > 0; step >>= 1) {                   // tree sum: fixed order
        if (threadIdx.x < step) red[threadIdx.x] += red[threadIdx.x + step];
        __syncthreads();
    }
    if (threadIdx.x == 0) dwout[c * K + tap] = red[0];
}
