#include "recorder/devices/cmos_rtc.h"

#include "recorder/devices/device_state_codec.h"
#include "guest-model/virtual_clock.h"

#include <algorithm>

namespace krr {

namespace {

enum Index : uint8_t {
    kSeconds = 0x00,
    kSecondsAlarm = 0x01,
    kMinutes = 0x02,
    kMinutesAlarm = 0x03,
    kHours = 0x04,
    kHoursAlarm = 0x05,
    kWeekday = 0x06,
    kDayOfMonth = 0x07,
    kMonth = 0x08,
    kYear = 0x09,
    kRegisterA = 0x0a,
    kRegisterB = 0x0b,
    kRegisterC = 0x0c,
    kRegisterD = 0x0d,
    kCentury = 0x32,
};

constexpr uint8_t kAUpdateInProgress = 0x80;
constexpr uint8_t kBSet = 0x80;
constexpr uint8_t kBBinary = 0x04;
constexpr uint8_t kB24Hour = 0x02;
constexpr uint8_t kCInterruptRequest = 0x80;
constexpr uint8_t kPeriodicFlag = 0x40;
constexpr uint8_t kAlarmFlag = 0x20;
constexpr uint8_t kUpdateFlag = 0x10;
constexpr uint8_t kDValidRam = 0x80;

constexpr int64_t kSecondsPerDay = 86400;

bool is_leap(int year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_year(int year) {
    return is_leap(year) ? 366 : 365;
}

int days_in_month(int year, int month) {
    static constexpr int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

bool is_time_register(uint8_t index) {
    return index == kSeconds || index == kMinutes || index == kHours ||
           (index >= kWeekday && index <= kYear) || index == kCentury;
}

} // namespace

CalendarTime calendar_from_unix(int64_t seconds) {
    int64_t days = seconds / kSecondsPerDay;
    int64_t rest = seconds % kSecondsPerDay;
    if (rest < 0) {
        rest += kSecondsPerDay;
        --days;
    }
    CalendarTime time;
    time.weekday = int(((days % 7) + 11) % 7); // day 0 was a Thursday (4)
    time.hour = int(rest / 3600);
    time.minute = int(rest / 60 % 60);
    time.second = int(rest % 60);
    int year = 1970;
    while (days < 0) {
        --year;
        days += days_in_year(year);
    }
    while (days >= days_in_year(year)) {
        days -= days_in_year(year);
        ++year;
    }
    int month = 1;
    while (days >= days_in_month(year, month)) {
        days -= days_in_month(year, month);
        ++month;
    }
    time.year = year;
    time.month = month;
    time.day = int(days) + 1;
    return time;
}

int64_t unix_from_calendar(const CalendarTime& time) {
    int64_t days = 0;
    for (int year = 1970; year < time.year; ++year)
        days += days_in_year(year);
    for (int year = time.year; year < 1970; ++year)
        days -= days_in_year(year);
    for (int month = 1; month < time.month && month <= 12; ++month)
        days += days_in_month(time.year, month);
    days += time.day - 1;
    return days * kSecondsPerDay + time.hour * 3600 + time.minute * 60 + time.second;
}

CmosRtc::CmosRtc(int64_t start_unix_seconds, InterruptLine irq8)
    : irq8_(std::move(irq8)), base_unix_(start_unix_seconds) {
    ram_[kRegisterA] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    ram_[kRegisterB] = kB24Hour;
    ram_[kRegisterD] = kDValidRam;
}

uint8_t CmosRtc::encode(int value) const {
    if (ram_[kRegisterB] & kBBinary)
        return uint8_t(value);
    return uint8_t((value / 10 % 10) << 4 | (value % 10));
}

int CmosRtc::decode(uint8_t value) const {
    if (ram_[kRegisterB] & kBBinary)
        return value;
    return (value >> 4) * 10 + (value & 0xf);
}

uint8_t CmosRtc::encode_hour(int hour) const {
    if (ram_[kRegisterB] & kB24Hour)
        return encode(hour);
    int twelve = hour % 12 == 0 ? 12 : hour % 12;
    return uint8_t(encode(twelve) | (hour >= 12 ? 0x80 : 0));
}

int CmosRtc::decode_hour(uint8_t value) const {
    if (ram_[kRegisterB] & kB24Hour)
        return decode(value);
    int twelve = decode(value & 0x7f) % 12;
    return (value & 0x80) ? twelve + 12 : twelve;
}

int64_t CmosRtc::unix_time() const {
    if (ram_[kRegisterB] & kBSet) {
        CalendarTime time;
        time.second = decode(ram_[kSeconds]);
        time.minute = decode(ram_[kMinutes]);
        time.hour = decode_hour(ram_[kHours]);
        time.day = decode(ram_[kDayOfMonth]);
        time.month = decode(ram_[kMonth]);
        time.year = decode(ram_[kCentury]) * 100 + decode(ram_[kYear]);
        if (time.month < 1 || time.month > 12)
            time.month = 1;
        return unix_from_calendar(time);
    }
    return base_unix_ + int64_t((now_ - base_ns_) / VirtualClock::kNanosecondsPerSecond);
}

uint8_t CmosRtc::read_register(uint8_t index) const {
    index &= 0x7f;
    bool running = !(ram_[kRegisterB] & kBSet);
    if (is_time_register(index) && running) {
        CalendarTime time = calendar_from_unix(unix_time());
        switch (index) {
        case kSeconds:
            return encode(time.second);
        case kMinutes:
            return encode(time.minute);
        case kHours:
            return encode_hour(time.hour);
        case kWeekday:
            return encode(time.weekday + 1);
        case kDayOfMonth:
            return encode(time.day);
        case kMonth:
            return encode(time.month);
        case kYear:
            return encode(time.year % 100);
        default:
            return encode(time.year / 100);
        }
    }
    if (index == kRegisterA) {
        uint64_t phase = (now_ - base_ns_) % VirtualClock::kNanosecondsPerSecond;
        bool updating =
            running && phase >= VirtualClock::kNanosecondsPerSecond - kUpdateInProgressNs;
        return uint8_t(ram_[kRegisterA] | (updating ? kAUpdateInProgress : 0));
    }
    return ram_[index];
}

void CmosRtc::freeze_time_registers() {
    CalendarTime time = calendar_from_unix(unix_time());
    ram_[kSeconds] = encode(time.second);
    ram_[kMinutes] = encode(time.minute);
    ram_[kHours] = encode_hour(time.hour);
    ram_[kWeekday] = encode(time.weekday + 1);
    ram_[kDayOfMonth] = encode(time.day);
    ram_[kMonth] = encode(time.month);
    ram_[kYear] = encode(time.year % 100);
    ram_[kCentury] = encode(time.year / 100);
}

void CmosRtc::write_register(uint8_t index, uint8_t value) {
    index &= 0x7f;
    bool was_set = ram_[kRegisterB] & kBSet;
    switch (index) {
    case kRegisterA:
        ram_[kRegisterA] = value & 0x7f;
        return;
    case kRegisterB: {
        if (!was_set && (value & kBSet))
            freeze_time_registers();
        int64_t frozen = unix_time();
        ram_[kRegisterB] = value;
        if (was_set && !(value & kBSet)) {
            base_unix_ = frozen;
            base_ns_ = now_;
            seconds_seen_ = 0;
        }
        return;
    }
    case kRegisterC:
    case kRegisterD:
        return; // read-only
    default:
        break;
    }
    if (is_time_register(index) && !was_set) {
        // Setting the time while the clock runs: it runs on from the new value.
        freeze_time_registers();
        ram_[index] = value;
        ram_[kRegisterB] |= kBSet;
        int64_t written = unix_time();
        ram_[kRegisterB] &= uint8_t(~kBSet);
        base_unix_ = written;
        base_ns_ = now_;
        seconds_seen_ = 0;
        return;
    }
    ram_[index] = value;
}

uint64_t CmosRtc::read(uint64_t offset, unsigned) {
    if (offset == 0)
        return 0xff; // the index register is write-only
    uint8_t value = read_register(index_);
    if ((index_ & 0x7f) == kRegisterC)
        ram_[kRegisterC] = 0; // reading C acknowledges every flag
    return value;
}

void CmosRtc::write(uint64_t offset, unsigned, uint64_t value) {
    if (offset == 0)
        index_ = uint8_t(value) & 0x7f;
    else
        write_register(index_, uint8_t(value));
}

uint64_t CmosRtc::periodic_frequency_hz() const {
    unsigned rate = ram_[kRegisterA] & 0xf;
    if (rate == 0)
        return 0;
    if (rate < 3)
        rate += 7; // rates 1 and 2 repeat rates 8 and 9 (256 and 128 Hz)
    return 32768 >> (rate - 1);
}

void CmosRtc::set_flags(uint8_t flags) {
    uint8_t& c = ram_[kRegisterC];
    c |= flags;
    bool request = c & ram_[kRegisterB] & (kPeriodicFlag | kAlarmFlag | kUpdateFlag);
    if (request && !(c & kCInterruptRequest)) {
        c |= kCInterruptRequest;
        pulse(irq8_);
    }
}

void CmosRtc::advance_to(uint64_t now_ns) {
    if (now_ns < now_)
        return;
    now_ = now_ns;
    uint8_t flags = 0;
    if (uint64_t hz = periodic_frequency_hz()) {
        uint64_t periods = VirtualClock::ticks(now_, hz);
        if (periods > periods_seen_) {
            periods_seen_ = periods;
            flags |= kPeriodicFlag;
        }
    }
    if (!(ram_[kRegisterB] & kBSet)) {
        uint64_t seconds = (now_ - base_ns_) / VirtualClock::kNanosecondsPerSecond;
        if (seconds > seconds_seen_) {
            seconds_seen_ = seconds;
            flags |= kUpdateFlag;
            auto matches = [&](uint8_t alarm, uint8_t current) {
                return (alarm & 0xc0) == 0xc0 || alarm == current;
            };
            if (matches(ram_[kSecondsAlarm], read_register(kSeconds)) &&
                matches(ram_[kMinutesAlarm], read_register(kMinutes)) &&
                matches(ram_[kHoursAlarm], read_register(kHours)))
                flags |= kAlarmFlag;
        }
    }
    if (flags)
        set_flags(flags);
}

std::optional<uint64_t> CmosRtc::next_deadline() const {
    std::optional<uint64_t> deadline;
    uint8_t b = ram_[kRegisterB];
    if ((b & (kUpdateFlag | kAlarmFlag)) && !(b & kBSet))
        deadline = base_ns_ + (seconds_seen_ + 1) * VirtualClock::kNanosecondsPerSecond;
    uint64_t hz = periodic_frequency_hz();
    if ((b & kPeriodicFlag) && hz) {
        uint64_t next = VirtualClock::time_of_tick(periods_seen_ + 1, hz);
        if (!deadline || next < *deadline)
            deadline = next;
    }
    return deadline;
}

void CmosRtc::save_state(ByteWriter& out) const {
    out.u8(1);
    out.u64(now_);
    out.u64(uint64_t(base_unix_));
    out.u64(base_ns_);
    out.u8(index_);
    out.bytes(ram_);
    out.u64(seconds_seen_);
    out.u64(periods_seen_);
}

void CmosRtc::load_state(ByteReader& in) {
    expect_version(in, 1);
    now_ = in.u64();
    base_unix_ = int64_t(in.u64());
    base_ns_ = in.u64();
    if (base_ns_ > now_)
        in.fail("RTC time base lies after its present time");
    index_ = uint8_t(check_range(in, in.u8(), 0, 127, "CMOS index"));
    auto ram = in.bytes(ram_.size());
    std::copy(ram.begin(), ram.end(), ram_.begin());
    seconds_seen_ = in.u64();
    periods_seen_ = in.u64();
}

} // namespace krr
