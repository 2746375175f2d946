// krr-tui: the terminal timeline browser. The timeline needs the activity
// index and the replay engine; until those exist this executable only checks
// its arguments and says what is missing (see tui/README.md).
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::printf("usage: krr-tui TRACE\n\nBrowse a recorded trace as a timeline.\n");
        return 0;
    }
    if (argc != 2) {
        std::fprintf(stderr, "krr-tui: usage: krr-tui TRACE\n");
        return 2;
    }
    std::fprintf(stderr,
                 "krr-tui: %s: the timeline browser is not built yet (it needs the replay "
                 "engine's activity index); use 'krr info %s'\n",
                 argv[1], argv[1]);
    return 1;
}
