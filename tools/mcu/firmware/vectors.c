/* The Cortex-M4 vector table and reset for QEMU's mps2-an386, the firmware of
 * `python -m tools.mcu.check`. No linker script: the default one, with `.vectors` placed at 0
 * (-Wl,--section-start=.vectors=0) and kept through --gc-sections (-Wl,--undefined=vector_table).
 * The reset handler enables the FPU before anything else (the firmware is built -mfloat-abi=hard,
 * so newlib's start-up code may touch FP registers) and jumps to newlib's `_start`, whose rdimon
 * crt0 asks the semihosting host for the heap and stack (SYS_HEAPINFO) and moves SP there. */
#include <stdint.h>

extern void _start(void);
void reset_handler(void);
void systick_handler(void); /* main.c: counts SysTick wraps */

__attribute__((noreturn)) static void halt(void) {
  for (;;) {
  }
}

void reset_handler(void) {
  volatile uint32_t *const cpacr = (volatile uint32_t *)0xE000ED88u;
  *cpacr |= 0xFu << 20; /* CP10 and CP11: full access */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  _start();
  halt();
}

/* Any fault ends the run at once, with a line check.py reports, rather than a hang until its timeout:
 * semihosting SYS_WRITE0 ("fault <exception number>"), then SYS_EXIT with a run-time error (QEMU
 * exits 1). */
static void semihost(uint32_t op, const void *arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

static void fault_handler(void) {
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  char line[] = "fault 00\n";
  line[6] = (char)('0' + (ipsr & 0x1FFu) / 10 % 10);
  line[7] = (char)('0' + (ipsr & 0x1FFu) % 10);
  semihost(0x04u, line);                   /* SYS_WRITE0 */
  semihost(0x18u, (const void *)0x20023u); /* SYS_EXIT, ADP_Stopped_RunTimeErrorUnknown */
  halt();
}

/* Initial SP: the top of mps2-an386's 4 MiB SRAM at 0x20000000, used only until crt0 moves it. */
__attribute__((section(".vectors"), used)) const uintptr_t vector_table[16] = {
    0x20400000u,              /* initial stack pointer */
    (uintptr_t)reset_handler, /* reset */
    (uintptr_t)fault_handler, /* NMI */
    (uintptr_t)fault_handler, /* HardFault */
    (uintptr_t)fault_handler, /* MemManage */
    (uintptr_t)fault_handler, /* BusFault */
    (uintptr_t)fault_handler, /* UsageFault */
    0, 0, 0, 0,               /* reserved */
    (uintptr_t)fault_handler, /* SVCall */
    (uintptr_t)fault_handler, /* DebugMonitor */
    0,                        /* reserved */
    (uintptr_t)fault_handler, /* PendSV */
    (uintptr_t)systick_handler,
};
