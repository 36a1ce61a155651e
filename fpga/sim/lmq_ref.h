// lmq_ref.h -- plain C++ reference of spec/packed_format.md (no bit tricks on
// purpose: it unpacks every level and weight and multiplies), used to check the
// RTL bit-exactly.
#ifndef LMQ_REF_H
#define LMQ_REF_H

#include <cstdint>
#include <vector>

namespace lmq_ref {

inline int groups(int c) { return (c + 31) / 32; }

// level q(y, x, c) from a packed activation tensor
inline int act_level(const std::vector<uint32_t>& t, int W, int G, int y, int x, int c) {
    int g = c / 32, i = c % 32;
    size_t base = (static_cast<size_t>(y) * W + x) * G + g;
    int b0 = (t[base * 2 + 0] >> i) & 1;
    int b1 = (t[base * 2 + 1] >> i) & 1;
    return b0 | (b1 << 1);
}

inline void set_level(std::vector<uint32_t>& t, int W, int G, int y, int x, int c, int q) {
    int g = c / 32, i = c % 32;
    size_t base = (static_cast<size_t>(y) * W + x) * G + g;
    t[base * 2 + 0] = (t[base * 2 + 0] & ~(1u << i)) | (static_cast<uint32_t>(q & 1) << i);
    t[base * 2 + 1] = (t[base * 2 + 1] & ~(1u << i)) | (static_cast<uint32_t>((q >> 1) & 1) << i);
}

// weight w(o, c, ky, kx) in {-1, +1}
inline int weight(const std::vector<uint32_t>& w, int K, int G, int o, int c, int ky, int kx) {
    size_t idx = ((static_cast<size_t>(o) * K + ky) * K + kx) * G + c / 32;
    return ((w[idx] >> (c % 32)) & 1) ? 1 : -1;
}

// acc(o, y, x), stride 1, SAME padding
inline void conv_acc(const std::vector<uint32_t>& in, int H, int W, int Cin,
                     const std::vector<uint32_t>& w, int Cout, int K, std::vector<int32_t>& acc) {
    int G = groups(Cin), pad = K / 2;
    acc.assign(static_cast<size_t>(H) * W * Cout, 0);
    // unpack once for speed
    std::vector<int8_t> q(static_cast<size_t>(H) * W * Cin);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < Cin; c++)
                q[(static_cast<size_t>(y) * W + x) * Cin + c] =
                    static_cast<int8_t>(act_level(in, W, G, y, x, c));
    std::vector<int8_t> wv(static_cast<size_t>(Cout) * K * K * Cin);
    for (int o = 0; o < Cout; o++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++)
                for (int c = 0; c < Cin; c++)
                    wv[((static_cast<size_t>(o) * K + ky) * K + kx) * Cin + c] =
                        static_cast<int8_t>(weight(w, K, G, o, c, ky, kx));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int o = 0; o < Cout; o++) {
                int32_t s = 0;
                for (int ky = 0; ky < K; ky++) {
                    int iy = y + ky - pad;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < K; kx++) {
                        int ix = x + kx - pad;
                        if (ix < 0 || ix >= W) continue;
                        const int8_t* qa = &q[(static_cast<size_t>(iy) * W + ix) * Cin];
                        const int8_t* wa = &wv[((static_cast<size_t>(o) * K + ky) * K + kx) * Cin];
                        for (int c = 0; c < Cin; c++) s += qa[c] * wa[c];
                    }
                }
                acc[(static_cast<size_t>(y) * W + x) * Cout + o] = s;
            }
}

// 3-threshold quantiser: thr[4*o .. 4*o+4] = T0, T1, T2, flags (bit 0 = descending)
inline int quantise(int32_t a, const int32_t* t) {
    if (t[3] & 1) return (a <= t[0]) + (a <= t[1]) + (a <= t[2]);
    return (a >= t[0]) + (a >= t[1]) + (a >= t[2]);
}

// full layer: packed output (thr_en) or raw i32 accumulators as u32 words
inline std::vector<uint32_t> conv(const std::vector<uint32_t>& in, int H, int W, int Cin,
                                  const std::vector<uint32_t>& w, int Cout, int K,
                                  const std::vector<int32_t>& thr, bool thr_en) {
    std::vector<int32_t> acc;
    conv_acc(in, H, W, Cin, w, Cout, K, acc);
    if (!thr_en) return std::vector<uint32_t>(acc.begin(), acc.end());
    int Go = groups(Cout);
    std::vector<uint32_t> out(static_cast<size_t>(H) * W * Go * 2, 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int o = 0; o < Cout; o++)
                set_level(out, W, Go, y, x, o,
                          quantise(acc[(static_cast<size_t>(y) * W + x) * Cout + o], &thr[4 * o]));
    return out;
}

}  // namespace lmq_ref

#endif
