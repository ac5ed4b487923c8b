/* The build machine's side of `python -m tools.mcu.check`: the same generated model, compiled with
 * the host's cc, run on the same int8 images as the Cortex-M4 firmware (main.c), printing the same
 * `image K ... out HEX` lines so that check.py can compare every output byte.
 *   host_main constants          the header's figures, as this compiler evaluates them
 *   host_main run IMAGES.bin N   N images of EDGE_DIGITS_INPUT_SIZE int8 bytes each */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include EDGE_DIGITS_MODEL_HEADER /* -D by check.py: the model's header, beside its .c */

static int print_constants(void) {
  printf("input_size %ld\n", (long)EDGE_DIGITS_INPUT_SIZE);
  printf("num_labels %ld\n", (long)EDGE_DIGITS_NUM_LABELS);
  printf("input_scale %a\n", (double)EDGE_DIGITS_INPUT_SCALE);
  printf("input_zero_point %ld\n", (long)EDGE_DIGITS_INPUT_ZERO_POINT);
  printf("output_scale %a\n", (double)EDGE_DIGITS_OUTPUT_SCALE);
  printf("output_zero_point %ld\n", (long)EDGE_DIGITS_OUTPUT_ZERO_POINT);
  printf("arena_bytes %lld\n", (long long)EDGE_DIGITS_ARENA_BYTES);
  printf("macs %lld\n", (long long)EDGE_DIGITS_MACS);
  return 0;
}

static int run(const char *path, long count) {
  static int8_t input[EDGE_DIGITS_INPUT_SIZE];
  int8_t output[EDGE_DIGITS_NUM_LABELS];
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    fprintf(stderr, "cannot open %s\n", path);
    return 1;
  }
  for (long i = 0; i < count; ++i) {
    if (fread(input, 1, sizeof input, file) != sizeof input) {
      fprintf(stderr, "%s: image %ld is missing or short\n", path, i);
      fclose(file);
      return 1;
    }
    edge_digits_classify(input, output);
    printf("image %ld out ", i);
    for (int j = 0; j < EDGE_DIGITS_NUM_LABELS; ++j) {
      printf("%02x", (unsigned)(uint8_t)output[j]);
    }
    putchar('\n');
  }
  fclose(file);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "constants") == 0) {
    return print_constants();
  }
  if (argc == 4 && strcmp(argv[1], "run") == 0) {
    return run(argv[2], strtol(argv[3], NULL, 10));
  }
  fprintf(stderr, "usage: %s constants | run IMAGES.bin N\n", argv[0]);
  return 2;
}
