/* krr's guest init: PID 1 of every guest krr boots. It prepares a minimal
 * system, loads the requested modules, runs the one command the user asked
 * for with the console as its terminal, reports how it ended, and powers the
 * machine off. Around the command it tells the krr host what is happening
 * through the control device, so recording can start exactly when the
 * command does. It prints nothing unless something fails, so the console
 * shows only the command's own output. */
#define _GNU_SOURCE

#include "guest-model/control_device_protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define COMMAND_FILE "/krr/command"
#define MODULES_FILE "/krr/modules"
/* Bigger than any command line a user types, small enough for a guest's RAM. */
#define MAX_CONTROL_FILE (1 << 20)

static int host_listens;

static void control_send(uint32_t command, uint32_t argument) {
    if (host_listens) {
        outl(krr_control_message(command, argument), KRR_CONTROL_PORT);
    }
}

static void detect_host(void) {
    /* Without access to the ports (no CAP_SYS_RAWIO, e.g. when run outside a
     * guest for testing) there is no host to tell anything. */
    if (ioperm(KRR_CONTROL_PORT, KRR_CONTROL_PORT_COUNT, 1) != 0) {
        return;
    }
    host_listens = inl(KRR_CONTROL_PORT) == KRR_CONTROL_MAGIC;
}

static void power_off(void) {
    sync();
    control_send(KRR_CONTROL_POWER_OFF, 0);
    /* Under krr the host stops the machine at the write above. Elsewhere a
     * kernel without ACPI cannot power off: the syscall then ends init, the
     * kernel panics, and panic=-1 lets the VMM reset (-no-reboot exits). */
    reboot(RB_POWER_OFF);
    for (;;) {
        pause();
    }
}

static void fail(enum krr_init_step step, const char* format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    dprintf(STDERR_FILENO, "krr-init: %s\n", message);
    control_send(KRR_CONTROL_INIT_FAILED, (uint32_t)step);
    power_off();
}

static void make_directory(const char* path) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fail(KRR_INIT_STEP_MOUNT, "mkdir %s: %s", path, strerror(errno));
    }
}

static void mount_filesystem(const char* type, const char* target, unsigned long flags,
                             const char* options) {
    make_directory(target);
    if (mount(type, target, type, flags, options) != 0) {
        fail(KRR_INIT_STEP_MOUNT, "mount %s on %s: %s", type, target, strerror(errno));
    }
}

static void mount_filesystems(void) {
    mount_filesystem("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_filesystem("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_filesystem("devtmpfs", "/dev", MS_NOSUID, "mode=0755");
    mount_filesystem("tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_filesystem("tmpfs", "/run", MS_NOSUID | MS_NODEV, "mode=0755");
}

/* The kernel opened the initramfs's /dev/console for us; reopen it from
 * devtmpfs so stdio survives /dev being mounted over. */
static void attach_console(void) {
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0) {
        fail(KRR_INIT_STEP_CONSOLE, "open /dev/console: %s", strerror(errno));
    }
    for (int i = 0; i < 3; ++i) {
        if (dup2(fd, i) < 0) {
            fail(KRR_INIT_STEP_CONSOLE, "dup2 /dev/console: %s", strerror(errno));
        }
    }
    if (fd > 2) {
        close(fd);
    }
}

/* Reads a whole control file; a missing file reads as empty. Returns its
 * length; the buffer is NUL-terminated one past it. */
static size_t read_control_file(const char* path, char** contents, enum krr_init_step step) {
    *contents = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        fail(step, "open %s: %s", path, strerror(errno));
    }
    char* buffer = malloc(MAX_CONTROL_FILE + 1);
    if (buffer == NULL) {
        fail(step, "read %s: out of memory", path);
    }
    size_t length = 0;
    for (;;) {
        ssize_t n = read(fd, buffer + length, MAX_CONTROL_FILE - length);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fail(step, "read %s: %s", path, strerror(errno));
        }
        if (n == 0) {
            break;
        }
        length += (size_t)n;
        if (length == MAX_CONTROL_FILE) {
            fail(step, "read %s: larger than %d bytes", path, MAX_CONTROL_FILE);
        }
    }
    close(fd);
    buffer[length] = '\0';
    *contents = buffer;
    return length;
}

/* /krr/modules: one path of a .ko file per line, loaded in order. */
static void load_modules(void) {
    char* list;
    size_t length = read_control_file(MODULES_FILE, &list, KRR_INIT_STEP_MODULES);
    for (char* line = list; line != NULL && line < list + length;) {
        char* end = strchr(line, '\n');
        if (end != NULL) {
            *end = '\0';
        }
        if (*line != '\0') {
            int fd = open(line, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                fail(KRR_INIT_STEP_MODULES, "module %s: %s", line, strerror(errno));
            }
            if (syscall(SYS_finit_module, fd, "", 0) != 0) {
                fail(KRR_INIT_STEP_MODULES, "module %s: %s", line, strerror(errno));
            }
            close(fd);
        }
        line = end == NULL ? NULL : end + 1;
    }
    free(list);
}

/* /krr/command: the argument vector, each argument NUL-terminated. */
static char** read_command(void) {
    char* text;
    size_t length = read_control_file(COMMAND_FILE, &text, KRR_INIT_STEP_COMMAND);
    if (length == 0) {
        fail(KRR_INIT_STEP_COMMAND, "%s: missing or empty (no command to run)", COMMAND_FILE);
    }
    if (text[length - 1] != '\0') {
        fail(KRR_INIT_STEP_COMMAND, "%s: the last argument is not NUL-terminated", COMMAND_FILE);
    }
    size_t count = 0;
    for (size_t i = 0; i < length; ++i) {
        count += text[i] == '\0';
    }
    char** argv = calloc(count + 1, sizeof *argv);
    if (argv == NULL) {
        fail(KRR_INIT_STEP_COMMAND, "%s: out of memory", COMMAND_FILE);
    }
    char* arg = text;
    for (size_t i = 0; i < count; ++i) {
        argv[i] = arg;
        arg += strlen(arg) + 1;
    }
    if (argv[0][0] == '\0') {
        fail(KRR_INIT_STEP_COMMAND, "%s: the command name is empty", COMMAND_FILE);
    }
    return argv;
}

static void set_environment(void) {
    clearenv();
    setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
    setenv("HOME", "/root", 1);
    setenv("TERM", "linux", 1);
    setenv("SHELL", "/bin/sh", 1);
    setenv("USER", "root", 1);
    if (chdir("/") != 0) {
        fail(KRR_INIT_STEP_START, "chdir /: %s", strerror(errno));
    }
}

/* The terminal signals the keeper ignores and the command gets back. */
static const int kJobSignals[] = {SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGHUP};

static void exec_command(char** argv) {
    for (size_t i = 0; i < sizeof kJobSignals / sizeof kJobSignals[0]; ++i) {
        signal(kJobSignals[i], SIG_DFL);
    }
    execvp(argv[0], argv);
    dprintf(STDERR_FILENO, "krr-init: %s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* The command runs in a session of its own with the console as controlling
 * terminal, so an interactive shell gets job control and Ctrl-C. The
 * session is led by a keeper process, not by the command: when a session
 * leader exits the kernel hangs its terminal up, and the hangup discards
 * console output the serial driver has not sent yet (with several CPUs its
 * interrupts can run behind the command). The keeper waits for the command,
 * lets the console drain, passes the command's wait status to init through
 * `status_pipe`, and only then exits. Returns the keeper's pid. */
static pid_t start_command(char** argv, int status_pipe[2]) {
    if (pipe2(status_pipe, O_CLOEXEC) != 0) {
        fail(KRR_INIT_STEP_START, "pipe: %s", strerror(errno));
    }
    pid_t keeper = fork();
    if (keeper < 0) {
        fail(KRR_INIT_STEP_START, "fork: %s", strerror(errno));
    }
    if (keeper > 0) {
        close(status_pipe[1]);
        return keeper;
    }
    close(status_pipe[0]);
    setsid();
    ioctl(STDIN_FILENO, TIOCSCTTY, 0);
    for (size_t i = 0; i < sizeof kJobSignals / sizeof kJobSignals[0]; ++i) {
        signal(kJobSignals[i], SIG_IGN);
    }
    pid_t command = fork();
    if (command < 0) {
        dprintf(STDERR_FILENO, "krr-init: fork: %s\n", strerror(errno));
        _exit(126);
    }
    if (command == 0) {
        exec_command(argv);
    }
    int status = 0;
    while (waitpid(command, &status, 0) < 0) {
        if (errno != EINTR) {
            dprintf(STDERR_FILENO, "krr-init: wait: %s\n", strerror(errno));
            _exit(126);
        }
    }
    tcdrain(STDOUT_FILENO);
    if (write(status_pipe[1], &status, sizeof status) != (ssize_t)sizeof status) {
        _exit(126);
    }
    _exit(0);
}

/* The command's wait status, as its keeper reported it. */
static int command_status(int keeper_status, int status_pipe) {
    int status = 0;
    ssize_t got;
    do {
        got = read(status_pipe, &status, sizeof status);
    } while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof status) {
        /* The keeper failed before the command ran (fork, exec): its own
         * status says how. */
        return keeper_status;
    }
    return status;
}

/* As PID 1, init inherits every orphan; reap them all until the command ends. */
static int wait_for(pid_t command) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) {
            continue;
        }
        if (pid < 0) {
            fail(KRR_INIT_STEP_WAIT, "wait: %s", strerror(errno));
        }
        if (pid == command) {
            return status;
        }
    }
}

static uint32_t exit_report(int status) {
    if (WIFSIGNALED(status)) {
        return KRR_CONTROL_KILLED_BY_SIGNAL | (uint32_t)WTERMSIG(status);
    }
    return (uint32_t)WEXITSTATUS(status);
}

int main(void) {
    /* Everything below mounts over the root, and ends in reboot(): run by
     * mistake on a host, it must do nothing. */
    if (getpid() != 1) {
        dprintf(STDERR_FILENO, "krr-init: must run as PID 1 inside a krr guest\n");
        return 1;
    }
    detect_host();
    mount_filesystems();
    attach_console();
    load_modules();
    char** argv = read_command();
    set_environment();
    control_send(KRR_CONTROL_COMMAND_STARTS, 0);
    int status_pipe[2];
    pid_t keeper = start_command(argv, status_pipe);
    int status = command_status(wait_for(keeper), status_pipe[0]);
    control_send(KRR_CONTROL_EXIT_STATUS, exit_report(status));
    power_off();
    return 0;
}
