#include "supervisor/exit_status.h"

namespace sandgate::supervisor {

int ExitCodeFromWaitStatus(int code, int signal) { return signal != 0 ? 128 + signal : code; }

}  // namespace sandgate::supervisor
