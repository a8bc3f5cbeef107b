/* Cortex-M startup for the ferrite firmware demo on QEMU mps2-an386 (M4F),
 * mps2-an385 (M3) and microbit (nRF51, Cortex-M0: runs the Cortex-M0+ build):
 * vector table, reset handler, SysTick hook, stack painting.
 *
 * The reset handler does what a board's startup code does (zero .bss, run
 * constructors, call main, exit) instead of newlib's rdimon crt0, so that the
 * stack is exactly the region the linker script reserves and can be painted
 * before main() runs; the demo measures its high-water mark at exit. On QEMU
 * .data is loaded at its RAM address by the ELF loader; a board copies it from
 * flash here. */
#include <stdint.h>
#include <stdlib.h>

extern int main(void);
extern void initialise_monitor_handles(void); /* newlib rdimon: semihosting stdio */
extern void __libc_init_array(void);

extern uint32_t __bss_start__[], __bss_end__[];
extern uint32_t __stack_limit[], __stack_top[];

#define STACK_PAINT 0xC5C5C5C5u

/* Bytes of the stack region never written since reset (the paint survived). */
uint32_t ferrite_demo_stack_unused(void) {
  const uint32_t *p = __stack_limit;
  while (p < __stack_top && *p == STACK_PAINT) ++p;
  return (uint32_t)((uintptr_t)p - (uintptr_t)__stack_limit);
}
uint32_t ferrite_demo_stack_size(void) { return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_limit); }

/* Paints the unused part of the stack again (from the limit to 64 bytes below
 * the caller's SP), so that a later ferrite_demo_stack_unused() measures the
 * depth reached from here on. An interrupt taken meanwhile only uses the stack
 * below SP temporarily, so overwriting that area is harmless. */
void ferrite_demo_stack_repaint(void) {
  uint32_t *sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t *p = __stack_limit; p < sp - 16; ++p) *(volatile uint32_t *)p = STACK_PAINT;
}

__attribute__((naked, noreturn)) void Reset_Handler(void) {
  /* Paint the stack from its limit up to the current SP (the top, just
   * after reset) in assembly, so that no C frame sits in the painted area.
   * ARMv6-M instructions only (no post-indexed str, a long-range branch),
   * so the same code starts a Cortex-M0+. */
  __asm volatile(
      "  ldr r0, =__stack_limit\n"
      "  mov r1, sp\n"
      "  ldr r2, =0xC5C5C5C5\n"
      "1: cmp r0, r1\n"
      "  bhs 2f\n"
      "  stmia r0!, {r2}\n"
      "  b 1b\n"
      "2: ldr r3, =ferrite_demo_start\n"
      "  bx r3\n");
}

__attribute__((noreturn, used)) void ferrite_demo_start(void) {
#if defined(__ARM_FP)
  *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20); /* CPACR: CP10/CP11 full access */
  __asm volatile("dsb\n isb");
#endif
  for (uint32_t *p = __bss_start__; p < __bss_end__; ++p) *p = 0;
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

/* Semihosting SYS_EXIT with ADP_Stopped_InternalError: QEMU exits with 1. */
__attribute__((noreturn)) static void Fault_Handler(void) {
  register uint32_t r0 __asm("r0") = 0x18;
  register uint32_t r1 __asm("r1") = 0x20024;
  __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1));
  for (;;) {
  }
}

static void Default_Handler(void) {}
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*vector_t)(void);
typedef union {
  const void *sp;
  vector_t handler;
} vector_entry;

__attribute__((section(".vectors"), used)) const vector_entry vectors[16] = {
    {.sp = __stack_top},       {.handler = Reset_Handler},
    {.handler = Fault_Handler}, /* NMI */
    {.handler = Fault_Handler}, /* HardFault */
    {.handler = Fault_Handler}, /* MemManage */
    {.handler = Fault_Handler}, /* BusFault */
    {.handler = Fault_Handler}, /* UsageFault */
    {0},
    {0},
    {0},
    {0},
    {.handler = Fault_Handler}, /* SVCall */
    {.handler = Fault_Handler}, /* DebugMonitor */
    {0},
    {.handler = Fault_Handler}, /* PendSV */
    {.handler = SysTick_Handler},
};
