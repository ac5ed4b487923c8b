// A stub of TFLite Micro's MicroMutableOpResolver, only for `g++ -fsyntax-only` on the generated
// model_int8.h/.cc when the TFLM sources are not installed (tests/test_tflm.py). It declares the
// Add* methods the generator may emit; a real project includes TFLM's own header instead.
#ifndef TFLM_STUB_MICRO_MUTABLE_OP_RESOLVER_H_
#define TFLM_STUB_MICRO_MUTABLE_OP_RESOLVER_H_

typedef enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;

#define TF_LITE_ENSURE_STATUS(a) \
  do {                           \
    const TfLiteStatus s = (a);  \
    if (s != kTfLiteOk) return s; \
  } while (0)

namespace tflite {

template <unsigned int tOpCount>
class MicroMutableOpResolver {
 public:
  TfLiteStatus AddAdd() { return Register(); }
  TfLiteStatus AddAveragePool2D() { return Register(); }
  TfLiteStatus AddConv2D() { return Register(); }
  TfLiteStatus AddDepthwiseConv2D() { return Register(); }
  TfLiteStatus AddDequantize() { return Register(); }
  TfLiteStatus AddFullyConnected() { return Register(); }
  TfLiteStatus AddLogistic() { return Register(); }
  TfLiteStatus AddMaxPool2D() { return Register(); }
  TfLiteStatus AddMean() { return Register(); }
  TfLiteStatus AddMul() { return Register(); }
  TfLiteStatus AddPad() { return Register(); }
  TfLiteStatus AddQuantize() { return Register(); }
  TfLiteStatus AddRelu() { return Register(); }
  TfLiteStatus AddRelu6() { return Register(); }
  TfLiteStatus AddReshape() { return Register(); }
  TfLiteStatus AddSoftmax() { return Register(); }
  unsigned int count() const { return count_; }

 private:
  TfLiteStatus Register() { return count_ < tOpCount ? (++count_, kTfLiteOk) : kTfLiteError; }
  unsigned int count_ = 0;
};

}  // namespace tflite

#endif  // TFLM_STUB_MICRO_MUTABLE_OP_RESOLVER_H_
