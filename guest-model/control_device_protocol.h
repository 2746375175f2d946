/* The krr control device: how the guest's init talks to the host. Shared by
 * the guest init (C, built static) and the recorder (C++), so it is plain C.
 *
 * Four I/O ports starting at KRR_CONTROL_PORT. A 32-bit read of the first
 * port returns KRR_CONTROL_MAGIC under krr; on any other machine nothing
 * decodes the port and the read returns all ones, which tells init there is
 * no krr host to signal. A 32-bit write to the first port is a message:
 * (command << 24) | argument, with the commands below. */
#ifndef KRR_GUEST_MODEL_CONTROL_DEVICE_PROTOCOL_H
#define KRR_GUEST_MODEL_CONTROL_DEVICE_PROTOCOL_H

#include <stdint.h>

enum {
    KRR_CONTROL_PORT = 0x7e0,
    KRR_CONTROL_PORT_COUNT = 4,
};

/* "KRR1" in little-endian byte order. */
#define KRR_CONTROL_MAGIC UINT32_C(0x3152524b)

enum krr_control_command {
    /* The command is about to be executed: recording starts here. Argument 0. */
    KRR_CONTROL_COMMAND_STARTS = 1,
    /* The command finished. Argument: its exit status (0-255), or
     * KRR_CONTROL_KILLED_BY_SIGNAL | signal number. */
    KRR_CONTROL_EXIT_STATUS = 2,
    /* Everything is synced; the host may stop the machine. Argument 0. */
    KRR_CONTROL_POWER_OFF = 3,
    /* Init could not do its job. Argument: the failed step (enum below); the
     * reason is printed on the console. */
    KRR_CONTROL_INIT_FAILED = 4,
};

#define KRR_CONTROL_KILLED_BY_SIGNAL UINT32_C(0x100)
#define KRR_CONTROL_ARGUMENT_MASK UINT32_C(0x00ffffff)

static inline uint32_t krr_control_message(uint32_t command, uint32_t argument) {
    return (command << 24) | (argument & KRR_CONTROL_ARGUMENT_MASK);
}
static inline uint32_t krr_control_command_of(uint32_t message) {
    return message >> 24;
}
static inline uint32_t krr_control_argument_of(uint32_t message) {
    return message & KRR_CONTROL_ARGUMENT_MASK;
}

/* The steps of the guest init, as reported with KRR_CONTROL_INIT_FAILED. */
enum krr_init_step {
    KRR_INIT_STEP_MOUNT = 1,   /* mounting /proc, /sys, /dev, /tmp, /run */
    KRR_INIT_STEP_CONSOLE = 2, /* opening /dev/console */
    KRR_INIT_STEP_MODULES = 3, /* loading the modules in /krr/modules */
    KRR_INIT_STEP_COMMAND = 4, /* reading /krr/command */
    KRR_INIT_STEP_START = 5,   /* starting the command (fork or exec) */
    KRR_INIT_STEP_WAIT = 6,    /* waiting for the command */
};

#endif
