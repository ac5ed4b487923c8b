/* The model's function doing nothing: linked instead of the generated model into a baseline
 * firmware that is otherwise the same, so that check.py can take the model's flash and RAM as the
 * difference of the two (everything the model brings in: code, weights, buffers, library helpers). */
#include EDGE_DIGITS_MODEL_HEADER

void edge_digits_classify(const int8_t input[EDGE_DIGITS_INPUT_SIZE], int8_t output[EDGE_DIGITS_NUM_LABELS]) {
  (void)input;
  (void)output;
}
