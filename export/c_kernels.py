"""The C text of the plain-C export's kernels (export/c_int8.py writes only those a model uses).

Each mirrors, operation for operation, the int8 reference kernel TFLite Micro runs (the list is
in export/c_int8.py's docstring); tests/export/test_c_int8.py holds the two byte for byte.
"""

from __future__ import annotations

# Each piece: (name, the names it uses, C text). Only what the model's layers use is written,
# so -Wall -Werror builds never see an unused static function.
C_PIECES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("shift_right", (), """
/* Arithmetic shift right. C99 leaves >> of a negative number to the compiler; this form is
   exact on all of them. */
static int32_t shift_right(int32_t x, int n) {
    return x >= 0 ? x >> n : ~(~x >> n);
}
"""),
    ("rounding_divide_by_pot", ("shift_right",), """
/* gemmlowp RoundingDivideByPOT: x / 2^exponent, rounded to nearest, ties away from zero. */
static int32_t rounding_divide_by_pot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return shift_right(x, exponent) + (remainder > threshold ? 1 : 0);
}
"""),
    ("doubling_high_mul", (), """
/* gemmlowp SaturatingRoundingDoublingHighMul: (a * b * 2) / 2^32, rounded; the one overflow
   (INT32_MIN squared) saturates. C99 division truncates toward zero, as gemmlowp expects. */
static int32_t doubling_high_mul(int32_t a, int32_t b) {
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}
"""),
    ("requantize", ("rounding_divide_by_pot", "doubling_high_mul"), """
/* TFLite's MultiplyByQuantizedMultiplier, double rounding as TFLite Micro builds it:
   x * multiplier * 2^(shift - 31). The left shift wraps like TFLite's int32 multiply. */
static int32_t requantize(int32_t x, int32_t multiplier, int shift) {
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return rounding_divide_by_pot(doubling_high_mul((int32_t)((uint32_t)x << left), multiplier), right);
}
"""),
    ("clamp", (), """
static int32_t clamp(int32_t x, int32_t low, int32_t high) {
    return x < low ? low : (x > high ? high : x);
}
"""),
    ("saturating_shift_left", (), """
/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent: x * 2^exponent, saturated. */
static int32_t saturating_shift_left(int32_t x, int exponent) {
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
}
"""),
    ("exp_on_negative_values", ("rounding_divide_by_pot", "doubling_high_mul", "saturating_shift_left"), """
/* gemmlowp exp_on_negative_values: exp(a) for a <= 0 in Q5.26, result in Q0.31. exp of the
   part in [-1/4, 0) comes from a Taylor series around -1/8; each whole quarter bit of -a
   multiplies in a constant exp(-2^k). */
static int32_t exp_on_negative_values(int32_t a) {
    static const int32_t exp_minus_pow2[7] = {  /* exp(-2^k), k = -2..4, Q0.31 */
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = (int32_t)1 << 24;  /* 1/4 in Q5.26 */
    const int32_t a_mod_quarter = (a & (quarter - 1)) - quarter;  /* in [-1/4, 0) */
    const int32_t remainder = a_mod_quarter - a;  /* the whole quarters of -a */
    const int32_t x = saturating_shift_left(a_mod_quarter, 5) + ((int32_t)1 << 28);  /* Q0.31, + 1/8 */
    const int32_t x2 = doubling_high_mul(x, x);
    const int32_t x3 = doubling_high_mul(x2, x);
    const int32_t x4_over_4 = rounding_divide_by_pot(doubling_high_mul(x2, x2), 2);
    const int32_t one_third = 715827883, exp_minus_eighth = 1895147668;  /* Q0.31 */
    const int32_t series = rounding_divide_by_pot(doubling_high_mul(x4_over_4 + x3, one_third) + x2, 1);
    int32_t result = exp_minus_eighth + doubling_high_mul(exp_minus_eighth, x + series);
    int k;
    for (k = 0; k < 7; ++k) {
        if (remainder & ((int32_t)1 << (24 + k))) result = doubling_high_mul(result, exp_minus_pow2[k]);
    }
    return a == 0 ? INT32_MAX : result;  /* exp(0) = 1 exactly */
}
"""),
    ("one_over_one_plus_x", ("doubling_high_mul", "saturating_shift_left"), """
/* gemmlowp one_over_one_plus_x_for_x_in_0_1: 1 / (1 + x), Q0.31 in and out, by three
   Newton-Raphson steps on the half denominator in Q2.29. */
static int32_t one_over_one_plus_x(int32_t x) {
    const int64_t sum = (int64_t)x + INT32_MAX;  /* x + 1 */
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t one = (int32_t)1 << 29;  /* 1.0 in Q2.29 */
    int32_t estimate = 1515870810 + doubling_high_mul(half_denominator, -1010580540);  /* 48/17 - 32/17 d */
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t error = one - doubling_high_mul(half_denominator, estimate);
        estimate += saturating_shift_left(doubling_high_mul(estimate, error), 2);
    }
    return saturating_shift_left(estimate, 1);
}
"""),
    ("conv2d_at", ("requantize", "clamp"), """
struct conv2d {
    int in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
    int32_t input_offset, output_zero_point, act_min, act_max;
    const int8_t *weights;  /* [out_c][k_h][k_w][in_c] */
    const int32_t *bias;  /* [out_c], or NULL */
    const int32_t *multiplier;  /* [out_c] */
    const int8_t *shift;  /* [out_c] */
};

/* reference_integer_ops::ConvPerChannel at one output (y, x, c): NHWC, taps outside the image
   are skipped (zero padding). */
static inline int8_t conv2d_at(const struct conv2d *p, const int8_t *input, int y, int x, int c) {
    int32_t acc = 0;
    int ky, kx, i;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int in_y = y * p->stride_h - p->pad_h + ky * p->dilation_h;
        if (in_y < 0 || in_y >= p->in_h) continue;
        for (kx = 0; kx < p->k_w; ++kx) {
            const int in_x = x * p->stride_w - p->pad_w + kx * p->dilation_w;
            const int8_t *in, *w;
            if (in_x < 0 || in_x >= p->in_w) continue;
            in = input + (in_y * p->in_w + in_x) * p->in_c;
            /* long: the weights may outgrow a 16-bit int's range (an activation may not: the arena holds it) */
            w = p->weights + ((long)(c * p->k_h + ky) * p->k_w + kx) * p->in_c;
            for (i = 0; i < p->in_c; ++i) acc += w[i] * (in[i] + p->input_offset);
        }
    }
    if (p->bias) acc += p->bias[c];
    acc = requantize(acc, p->multiplier[c], p->shift[c]) + p->output_zero_point;
    return (int8_t)clamp(acc, p->act_min, p->act_max);
}
"""),
    ("conv2d_pool", ("conv2d_at",), """
struct conv2d_pool {
    struct conv2d conv;
    int out_h, out_w, k_h, k_w, stride_h, stride_w, pad_h, pad_w;  /* the pooling, over conv's output */
    int32_t act_min, act_max;
};

/* CONV_2D, then the MAX_POOL_2D that follows it, fused: each pooled output is the maximum of
   the convolution's outputs in its window (reference_integer_ops::MaxPool: the window cut to
   the image, then clamped), each computed where it is needed. The same bytes as the two kernels
   in turn, without the convolution's output in RAM. A convolution that no pooling follows is
   this with a 1x1 window, so the model's code holds one convolution loop. The parameters are
   copied to a local: the int8 stores below may alias *params, which would make the compiler
   reload every field in the inner loops. */
static void conv2d_pool(const struct conv2d_pool *params, const int8_t *input, int8_t *output) {
    const struct conv2d_pool p = *params;
    int y, x, c, in_y, in_x;
    for (y = 0; y < p.out_h; ++y) {
        for (x = 0; x < p.out_w; ++x) {
            const int y0 = y * p.stride_h - p.pad_h, x0 = x * p.stride_w - p.pad_w;
            for (c = 0; c < p.conv.out_c; ++c) {
                int32_t best = -128;
                for (in_y = y0 < 0 ? 0 : y0; in_y < y0 + p.k_h && in_y < p.conv.out_h; ++in_y) {
                    for (in_x = x0 < 0 ? 0 : x0; in_x < x0 + p.k_w && in_x < p.conv.out_w; ++in_x) {
                        const int32_t v = conv2d_at(&p.conv, input, in_y, in_x, c);
                        if (v > best) best = v;
                    }
                }
                best = best < p.act_min ? p.act_min : (best > p.act_max ? p.act_max : best);
                output[(y * p.out_w + x) * p.conv.out_c + c] = (int8_t)best;
            }
        }
    }
}
"""),
    ("max_pool", (), """
struct max_pool {
    int in_h, in_w, channels, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
};

/* reference_integer_ops::MaxPool: the window is cut to the image, then clamped. */
static void max_pool(const struct max_pool *p, const int8_t *input, int8_t *output) {
    int y, x, c, in_y, in_x;
    for (y = 0; y < p->out_h; ++y) {
        for (x = 0; x < p->out_w; ++x) {
            const int y0 = y * p->stride_h - p->pad_h, x0 = x * p->stride_w - p->pad_w;
            for (c = 0; c < p->channels; ++c) {
                int32_t best = -128;
                for (in_y = y0 < 0 ? 0 : y0; in_y < y0 + p->k_h && in_y < p->in_h; ++in_y) {
                    for (in_x = x0 < 0 ? 0 : x0; in_x < x0 + p->k_w && in_x < p->in_w; ++in_x) {
                        const int32_t v = input[(in_y * p->in_w + in_x) * p->channels + c];
                        if (v > best) best = v;
                    }
                }
                best = best < p->act_min ? p->act_min : (best > p->act_max ? p->act_max : best);
                output[(y * p->out_w + x) * p->channels + c] = (int8_t)best;
            }
        }
    }
}
"""),
    ("mean", ("requantize", "clamp"), """
struct mean {
    int count, channels;  /* count = height * width */
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier;  /* the input/output scale ratio with 1/count folded in */
    int shift;
};

/* TFLM's int8 MEAN over height and width, reduce.h QuantizedMeanOrSum: the sum of
   (q - zero point) per channel, requantized once. */
static void mean(const struct mean *p, const int8_t *input, int8_t *output) {
    int c, i;
    for (c = 0; c < p->channels; ++c) {
        int32_t sum = 0;
        for (i = 0; i < p->count; ++i) sum += input[i * p->channels + c];
        sum = requantize(sum - p->input_zero_point * p->count, p->multiplier, p->shift);
        output[c] = (int8_t)clamp(sum + p->output_zero_point, -128, 127);
    }
}
"""),
    ("fully_connected", ("requantize", "clamp"), """
struct fully_connected {
    int depth, out_c;
    int32_t input_offset, output_zero_point, act_min, act_max;
    const int8_t *weights;  /* [out_c][depth] */
    const int32_t *bias;  /* [out_c], or NULL */
    const int32_t *multiplier;  /* [out_c] */
    const int8_t *shift;  /* [out_c] */
};

/* reference_integer_ops::FullyConnected (per tensor or per channel: the same arithmetic). */
static void fully_connected(const struct fully_connected *p, const int8_t *input, int8_t *output) {
    int c, i;
    for (c = 0; c < p->out_c; ++c) {
        const int8_t *w = p->weights + (long)c * p->depth;  /* long: as in conv2d_at */
        int32_t acc = 0;
        for (i = 0; i < p->depth; ++i) acc += w[i] * (input[i] + p->input_offset);
        if (p->bias) acc += p->bias[c];
        acc = requantize(acc, p->multiplier[c], p->shift[c]) + p->output_zero_point;
        output[c] = (int8_t)clamp(acc, p->act_min, p->act_max);
    }
}
"""),
    ("softmax", ("exp_on_negative_values", "one_over_one_plus_x", "rounding_divide_by_pot", "doubling_high_mul",
                 "clamp"), """
struct softmax {
    int depth;
    int32_t input_multiplier;  /* beta * input scale, for Q5.26 differences */
    int input_left_shift;
    int32_t diff_min;  /* differences below this contribute exp() = 0 */
};

/* reference_ops::Softmax, int8 in, int8 out (scale 1/256, zero point -128): exp of each
   difference from the row's maximum in fixed point, summed in Q12.19, times the reciprocal. */
static void softmax(const struct softmax *p, const int8_t *input, int8_t *output) {
    int32_t max = -128, sum = 0, scale;
    int c, headroom = 0, bits_over_unit;
    uint32_t s;
    for (c = 0; c < p->depth; ++c) if (input[c] > max) max = input[c];
    for (c = 0; c < p->depth; ++c) {
        const int32_t diff = input[c] - max;
        if (diff >= p->diff_min) {
            const int32_t scaled = doubling_high_mul(diff * ((int32_t)1 << p->input_left_shift), p->input_multiplier);
            sum += rounding_divide_by_pot(exp_on_negative_values(scaled), 12);
        }
    }
    /* GetReciprocal: normalize the sum to [1, 2), take 1 / (1 + x), remember the shift. */
    for (s = (uint32_t)sum; !(s & 0x80000000u); s <<= 1) ++headroom;
    bits_over_unit = 12 - headroom;
    scale = one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - 0x80000000u));
    for (c = 0; c < p->depth; ++c) {
        const int32_t diff = input[c] - max;
        int32_t q = -128;
        if (diff >= p->diff_min) {
            const int32_t scaled = doubling_high_mul(diff * ((int32_t)1 << p->input_left_shift), p->input_multiplier);
            const int32_t probability = doubling_high_mul(scale, exp_on_negative_values(scaled));
            q = clamp(rounding_divide_by_pot(probability, bits_over_unit + 23) - 128, -128, 127);
        }
        output[c] = (int8_t)q;
    }
}
"""),
)


def c_pieces(kernels: set[str]) -> str:
    """The C helpers and kernels the layers use, each after what it uses."""
    uses = {name: deps for name, deps, _ in C_PIECES}
    needed, stack = set(), list(kernels)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(uses[name])
    return "".join(text for name, _, text in C_PIECES if name in needed)
