/* The firmware of `python -m tools.mcu.check`: runs the generated model (edge_digits_int8.c) on
 * every image of images.h on an emulated Cortex-M4 (QEMU mps2-an386, -icount shift=0) and prints,
 * through semihosting, every output byte and what the run measured. host_main.c runs the same model
 * on the build machine and prints the same `image` lines; check.py compares them byte for byte.
 *
 * Two passes over the images, so that neither measurement disturbs the other:
 *   1. stack: SysTick off, no interrupts. The free stack below this code's SP is painted with a
 *      pattern, every image is classified, and the lowest overwritten word gives the high-water
 *      mark of the model's calls (an interrupt would push its frame and spoil it). The stack's
 *      bounds are the ones newlib's rdimon crt0 used: it asks the host (semihosting SYS_HEAPINFO)
 *      and moves SP there, away from the vector table's 0x20400000. QEMU 7.2 answers stack
 *      0x21000000..0x22000000 (the 16 MiB at 0x21000000), and the heap grows from `end` in the low
 *      RAM; if the heap shared the region, painting would start above its current end (sbrk(0)).
 *   2. instructions: SysTick at the core clock with an interrupt counting its wraps. Under
 *      -icount shift=0 one instruction is one ns of virtual time and mps2's core clock is 25 MHz,
 *      so one tick is 40 instructions; a known loop checks that relation on every run.
 * Both passes must give the same bytes. Output lines (check.py parses them strictly):
 *   edge-digits-mcu 1 images N
 *   calibration instructions I ticks T
 *   stack painted P used U
 *   image K ticks T out HEX        (one per image: the ticks of the call, the output bytes)
 *   end N
 */
#define _DEFAULT_SOURCE 1 /* sbrk() under -std=c99 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include EDGE_DIGITS_MODEL_HEADER /* -D by check.py: the model's header, beside its .c */
#include "images.h"               /* written by check.py: EDGE_DIGITS_IMAGE_COUNT, edge_digits_images */

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define CSR_ENABLE 0x1u
#define CSR_TICKINT 0x2u
#define CSR_CLKSOURCE_CORE 0x4u
#define ICSR_PENDSTSET (1u << 26)
#define ICSR_PENDSTCLR (1u << 25)
#define SYSTICK_PERIOD 0x1000000u /* 24-bit counter, reload 0xFFFFFF */

#define STACK_PATTERN 0xC5A3E17Bu
/* The known loop: 2 instructions per iteration; the difference of two lengths cancels the call. */
#define SPIN_SHORT 100000u
#define SPIN_LONG 1100000u

enum { EXIT_PASSES_DIFFER = 2, EXIT_NO_STACK_REGION = 3 };

static volatile uint32_t systick_wraps;
static int8_t stack_pass_outputs[EDGE_DIGITS_IMAGE_COUNT][EDGE_DIGITS_NUM_LABELS];
static int8_t timed_outputs[EDGE_DIGITS_IMAGE_COUNT][EDGE_DIGITS_NUM_LABELS];
static uint32_t image_ticks[EDGE_DIGITS_IMAGE_COUNT];

void systick_handler(void) { systick_wraps = systick_wraps + 1u; }

/* SysTick ticks since it was started, modulo 2^32 (wraps x 2^24 + the down-counter's progress). */
static uint32_t ticks_now(void) {
  uint32_t wraps, value, pending;
  do {
    wraps = systick_wraps;
    value = SYST_CVR;
    pending = SCB_ICSR & ICSR_PENDSTSET;
  } while (wraps != systick_wraps);
  if (pending && value > SYSTICK_PERIOD / 2u) {
    wraps++; /* reloaded, but its interrupt not taken yet */
  }
  return (wraps << 24) + (SYSTICK_PERIOD - 1u - value);
}

/* Writing CVR clears it to 0; the first tick reloads it. Until then ticks_now() would read a
 * full period, so wait for the reload. */
static void systick_start(void) {
  SYST_CSR = 0u;
  systick_wraps = 0u;
  SYST_RVR = SYSTICK_PERIOD - 1u;
  SYST_CVR = 0u;
  SYST_CSR = CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE_CORE;
  while (SYST_CVR == 0u) {
  }
}

static void systick_stop(void) {
  SYST_CSR = 0u;
  SCB_ICSR = ICSR_PENDSTCLR;
}

__attribute__((noinline)) static void spin(uint32_t iterations) {
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(iterations) : : "cc");
}

static uint32_t ticks_of_spin(uint32_t iterations) {
  uint32_t start = ticks_now();
  spin(iterations);
  return ticks_now() - start;
}

/* Semihosting SYS_HEAPINFO: the query newlib's rdimon crt0 makes to place SP (see the top). */
struct heap_info {
  uint32_t heap_base, heap_limit, stack_base, stack_limit;
};

static struct heap_info semihost_heap_info(void) {
  static struct heap_info info;
  struct heap_info *block = &info;
  register uint32_t r0 __asm__("r0") = 0x16u; /* SYS_HEAPINFO */
  register void *r1 __asm__("r1") = &block;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return info;
}

static uintptr_t current_sp(void) {
  uintptr_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

/* Paints [floor, SP) of this frame, classifies every image, and returns the bytes below this
 * frame's SP that the calls overwrote: the stack the model needs, its own call frame included.
 * No calls before the painting, and volatile stores so that it is not turned into memset. */
__attribute__((noinline)) static uint32_t classify_on_painted_stack(uintptr_t floor, uint32_t *painted) {
  const uintptr_t top = current_sp();
  volatile uint32_t *word;
  for (word = (volatile uint32_t *)floor; (uintptr_t)word < top; ++word) {
    *word = STACK_PATTERN;
  }
  for (int i = 0; i < EDGE_DIGITS_IMAGE_COUNT; ++i) {
    edge_digits_classify(edge_digits_images[i], stack_pass_outputs[i]);
  }
  for (word = (volatile uint32_t *)floor; (uintptr_t)word < top && *word == STACK_PATTERN; ++word) {
  }
  *painted = (uint32_t)(top - floor);
  return (uint32_t)(top - (uintptr_t)word);
}

int main(void) {
  printf("edge-digits-mcu 1 images %d\n", EDGE_DIGITS_IMAGE_COUNT);

  systick_start();
  const uint32_t short_ticks = ticks_of_spin(SPIN_SHORT);
  const uint32_t long_ticks = ticks_of_spin(SPIN_LONG);
  systick_stop();
  printf("calibration instructions %lu ticks %lu\n", 2ul * (SPIN_LONG - SPIN_SHORT),
         (unsigned long)(long_ticks - short_ticks));

  const struct heap_info info = semihost_heap_info();
  uintptr_t floor = info.stack_limit;
  const uintptr_t heap_end = (uintptr_t)sbrk(0); /* after printf set up its buffers */
  if (heap_end > floor && heap_end < info.stack_base) {
    floor = heap_end; /* the heap shares the region: paint only above it */
  }
  floor = (floor + 7u) & ~(uintptr_t)7u;
  if (info.stack_base == 0u || floor >= current_sp() || current_sp() > info.stack_base) {
    printf("error no stack region: SYS_HEAPINFO stack %08lx..%08lx, heap end %08lx, sp %08lx\n",
           (unsigned long)info.stack_limit, (unsigned long)info.stack_base, (unsigned long)heap_end,
           (unsigned long)current_sp());
    return EXIT_NO_STACK_REGION;
  }
  uint32_t painted = 0u;
  const uint32_t used = classify_on_painted_stack(floor, &painted);
  printf("stack painted %lu used %lu\n", (unsigned long)painted, (unsigned long)used);

  systick_start();
  for (int i = 0; i < EDGE_DIGITS_IMAGE_COUNT; ++i) {
    const uint32_t start = ticks_now();
    edge_digits_classify(edge_digits_images[i], timed_outputs[i]);
    image_ticks[i] = ticks_now() - start;
  }
  systick_stop();

  for (int i = 0; i < EDGE_DIGITS_IMAGE_COUNT; ++i) {
    printf("image %d ticks %lu out ", i, (unsigned long)image_ticks[i]);
    for (int j = 0; j < EDGE_DIGITS_NUM_LABELS; ++j) {
      printf("%02x", (unsigned)(uint8_t)timed_outputs[i][j]);
    }
    putchar('\n');
  }
  if (memcmp(stack_pass_outputs, timed_outputs, sizeof timed_outputs) != 0) {
    printf("error the two passes gave different outputs\n");
    return EXIT_PASSES_DIFFER;
  }
  printf("end %d\n", EDGE_DIGITS_IMAGE_COUNT);
  return 0;
}
