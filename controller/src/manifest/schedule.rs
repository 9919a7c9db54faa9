//! EventBridge Scheduler's schedule expressions (`cron(...)`, `rate(...)`, `at(...)`), as the
//! EventBridge Scheduler User Guide defines them ("Schedule types on EventBridge Scheduler"):
//! parsed to check a manifest, and walked to know the longest gap between two runs (the
//! missed-run alert waits that long plus a margin).
//!
//! Cron has six fields: minutes (0-59), hours (0-23), day-of-month (1-31), month (1-12 or
//! JAN-DEC), day-of-week (1-7 = SUN-SAT) and year (1970-2199), with `,` `-` `*` `/`; `?` in
//! exactly one of day-of-month and day-of-week; `L` and `W` in day-of-month; `L` and `#` in
//! day-of-week. A rate is a positive whole number and `minute`, `hour` or `day`, singular for
//! 1 and plural otherwise.

use chrono::{Datelike, NaiveDate, NaiveDateTime};

pub use crate::domain::is_schedule_name;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleExpression {
    Cron(Cron),
    /// Every this many seconds.
    Rate(u64),
    /// Once, at this local time.
    At(NaiveDateTime),
}

/// The six fields of a cron expression, each the set of values it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days: DaySpec,
    months: Vec<u32>,
    years: Vec<u32>,
}

/// Which days of a month run: day-of-month or day-of-week, whichever is not `?`.
#[derive(Debug, Clone, PartialEq)]
enum DaySpec {
    /// Days of the month (1-31); `last` adds the last day, `weekday` moves each day to the
    /// nearest weekday of the same month (`W`).
    OfMonth {
        days: Vec<u32>,
        last: bool,
        weekday: bool,
    },
    /// Days of the week (1 = Sunday ... 7 = Saturday).
    OfWeek(Vec<u32>),
    /// The last given weekday of the month (`6L`: the last Friday).
    LastOfWeek(u32),
    /// The n-th given weekday of the month (`6#3`: the third Friday).
    NthOfWeek(u32, u32),
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl ScheduleExpression {
    /// Parses an expression; the error says what is wrong in the manifest's terms.
    pub fn parse(text: &str) -> Result<Self, String> {
        let inner = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
        };
        if let Some(body) = inner("cron(") {
            return parse_cron(body).map(ScheduleExpression::Cron);
        }
        if let Some(body) = inner("rate(") {
            return parse_rate(body).map(ScheduleExpression::Rate);
        }
        if let Some(body) = inner("at(") {
            return NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S")
                .map(ScheduleExpression::At)
                .map_err(|_| format!("at({body}) must be at(yyyy-mm-ddThh:mm:ss)"));
        }
        Err(format!(
            "{text:?} is not a schedule expression: use cron(minutes hours day-of-month month day-of-week year), rate(value unit) or at(yyyy-mm-ddThh:mm:ss)"
        ))
    }

    /// The longest time between two runs, in seconds: exact for a rate, over the next two
    /// years from `from` for a cron (in its own time zone: a daylight-saving change adds up to
    /// an hour, which the missed-run margin covers). `None` for a one-time schedule or a cron
    /// running fewer than twice in that time.
    pub fn longest_interval(&self, from: NaiveDate) -> Option<u64> {
        match self {
            ScheduleExpression::Rate(secs) => Some(*secs),
            ScheduleExpression::At(_) => None,
            ScheduleExpression::Cron(cron) => cron.longest_interval(from),
        }
    }
}

fn parse_rate(body: &str) -> Result<u64, String> {
    let bad = || {
        format!("rate({body}) must be rate(value unit) with a whole number above 0 and minute(s), hour(s) or day(s)")
    };
    let (value, unit) = body.split_once(' ').ok_or_else(bad)?;
    let value: u64 = value.parse().map_err(|_| bad())?;
    let (seconds, singular) = match unit {
        "minute" => (60, true),
        "minutes" => (60, false),
        "hour" => (3600, true),
        "hours" => (3600, false),
        "day" => (86_400, true),
        "days" => (86_400, false),
        _ => return Err(bad()),
    };
    if value == 0 {
        return Err(bad());
    }
    if singular != (value == 1) {
        return Err(format!(
            "rate({body}): the unit is singular for 1 and plural otherwise (rate(1 hour), rate(2 hours))"
        ));
    }
    Ok(value * seconds)
}

fn parse_cron(body: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = body.split(' ').collect();
    let [minutes, hours, day_of_month, month, day_of_week, year] = fields.as_slice() else {
        return Err(format!(
            "cron({body}) has {} fields; EventBridge Scheduler's cron has 6: minutes hours day-of-month month day-of-week year",
            fields.len()
        ));
    };
    let field = |name: &str, text: &str, low: u32, high: u32, names: &[&str]| {
        values(text, low, high, names)
            .map_err(|why| format!("cron({body}): {name} {text:?}: {why}"))
    };
    let days = match (*day_of_month, *day_of_week) {
        ("?", "?") => {
            return Err(format!(
                "cron({body}): only one of day-of-month and day-of-week may be '?'"
            ))
        }
        ("?", dow) => week_days(dow)
            .map_err(|why| format!("cron({body}): day-of-week {dow:?}: {why}"))?,
        (dom, "?") => month_days(dom)
            .map_err(|why| format!("cron({body}): day-of-month {dom:?}: {why}"))?,
        _ => {
            return Err(format!(
                "cron({body}): day-of-month and day-of-week cannot both be set: one of them must be '?'"
            ))
        }
    };
    Ok(Cron {
        minutes: field("minutes", minutes, 0, 59, &[])?,
        hours: field("hours", hours, 0, 23, &[])?,
        days,
        months: field("month", month, 1, 12, &MONTHS)?,
        years: field("year", year, 1970, 2199, &[])?,
    })
}

/// The values of one field: `*`, `a`, `a-b`, `*/n`, `a/n`, `a-b/n`, comma separated.
fn values(text: &str, low: u32, high: u32, names: &[&str]) -> Result<Vec<u32>, String> {
    let number = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(low + i as u32);
        }
        let n: u32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
        if (low..=high).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n} is outside {low}-{high}"))
        }
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step {step:?} must be a whole number above 0"))?;
                (range, step)
            }
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (low, high),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None if step > 1 => (number(r)?, high),
                None => (number(r)?, number(r)?),
            },
        };
        if from > to {
            return Err(format!("range {range:?} runs backwards"));
        }
        out.extend((from..=to).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn month_days(text: &str) -> Result<DaySpec, String> {
    if text == "L" {
        return Ok(DaySpec::OfMonth {
            days: Vec::new(),
            last: true,
            weekday: false,
        });
    }
    if let Some(day) = text.strip_suffix('W') {
        return Ok(DaySpec::OfMonth {
            days: values(day, 1, 31, &[])?,
            last: false,
            weekday: true,
        });
    }
    Ok(DaySpec::OfMonth {
        days: values(text, 1, 31, &[])?,
        last: false,
        weekday: false,
    })
}

fn week_days(text: &str) -> Result<DaySpec, String> {
    let one = |s: &str| -> Result<u32, String> {
        values(s, 1, 7, &WEEKDAYS)?
            .first()
            .copied()
            .ok_or_else(|| "no day".to_string())
    };
    if let Some(day) = text.strip_suffix('L') {
        return Ok(DaySpec::LastOfWeek(one(day)?));
    }
    if let Some((day, n)) = text.split_once('#') {
        let n: u32 = n
            .parse()
            .ok()
            .filter(|n| (1..=5).contains(n))
            .ok_or_else(|| format!("#{n}: the week of the month must be 1-5"))?;
        return Ok(DaySpec::NthOfWeek(one(day)?, n));
    }
    Ok(DaySpec::OfWeek(values(text, 1, 7, &WEEKDAYS)?))
}

/// How many firings the interval walk looks at before it stops (an every-minute schedule
/// reaches it within days).
const WALK_LIMIT: usize = 50_000;

impl Cron {
    fn runs_on(&self, date: NaiveDate) -> bool {
        if !self.years.contains(&(date.year() as u32)) || !self.months.contains(&date.month()) {
            return false;
        }
        let weekday = date.weekday().number_from_sunday();
        let day = date.day();
        let last_day = days_in_month(date);
        match &self.days {
            DaySpec::OfMonth {
                days,
                last,
                weekday: nearest_weekday,
            } => {
                (*last && day == last_day)
                    || days.iter().any(|&d| {
                        if *nearest_weekday {
                            nearest_weekday_of(date, d) == Some(day)
                        } else {
                            d == day
                        }
                    })
            }
            DaySpec::OfWeek(days) => days.contains(&weekday),
            DaySpec::LastOfWeek(d) => weekday == *d && day + 7 > last_day,
            DaySpec::NthOfWeek(d, n) => weekday == *d && (day - 1) / 7 + 1 == *n,
        }
    }

    fn longest_interval(&self, from: NaiveDate) -> Option<u64> {
        let mut previous: Option<NaiveDateTime> = None;
        let mut longest = 0u64;
        let mut seen = 0usize;
        for date in from.iter_days().take(2 * 366 + 1) {
            if !self.runs_on(date) {
                continue;
            }
            for &h in &self.hours {
                for &m in &self.minutes {
                    let at = date.and_hms_opt(h, m, 0)?;
                    if let Some(p) = previous {
                        longest = longest.max((at - p).num_seconds().max(0) as u64);
                    }
                    previous = Some(at);
                    seen += 1;
                    if seen >= WALK_LIMIT {
                        return Some(longest);
                    }
                }
            }
        }
        (seen >= 2).then_some(longest)
    }
}

fn days_in_month(date: NaiveDate) -> u32 {
    let (y, m) = (date.year(), date.month());
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.and_then(|n| n.pred_opt()).map_or(31, |d| d.day())
}

/// `dW`: the weekday nearest to day `d` of `date`'s month, never crossing into another month.
fn nearest_weekday_of(date: NaiveDate, d: u32) -> Option<u32> {
    let target = date.with_day(d)?;
    let last = days_in_month(date);
    Some(match target.weekday().number_from_sunday() {
        7 if d == 1 => 3,        // Saturday the 1st: Monday the 3rd
        7 => d - 1,              // Saturday: Friday
        1 if d == last => d - 2, // Sunday the last: Friday
        1 => d + 1,              // Sunday: Monday
        _ => d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(expression: &str) -> Option<u64> {
        ScheduleExpression::parse(expression)
            .unwrap()
            .longest_interval(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap())
    }

    #[test]
    fn rates_and_crons_give_their_longest_gap() {
        assert_eq!(interval("rate(1 hour)"), Some(3600));
        assert_eq!(interval("rate(5 minutes)"), Some(300));
        assert_eq!(interval("cron(0 3 * * ? *)"), Some(86_400));
        assert_eq!(interval("cron(*/15 * * * ? *)"), Some(900));
        // Weekdays at 6:30: Friday to Monday is the longest gap.
        assert_eq!(interval("cron(30 6 ? * MON-FRI *)"), Some(3 * 86_400));
        // The last day of the month: July 31 to August 31 (or December to January) is 31 days.
        assert_eq!(interval("cron(0 0 L * ? *)"), Some(31 * 86_400));
        // The third Friday: five weeks apart at most.
        assert_eq!(interval("cron(0 12 ? * 6#3 *)"), Some(35 * 86_400));
        assert_eq!(interval("at(2027-03-01T10:00:00)"), None);
        assert_eq!(interval("cron(0 0 1 1 ? 2027)"), None, "runs once");
    }

    #[test]
    fn malformed_expressions_say_what_is_wrong() {
        let error = |e: &str| ScheduleExpression::parse(e).unwrap_err();
        assert!(error("cron(0 3 * * *)").contains("has 5 fields"));
        assert!(error("cron(0 3 * * * *)").contains("one of them must be '?'"));
        assert!(error("cron(0 3 ? * ? *)").contains("only one of"));
        assert!(error("cron(60 3 * * ? *)").contains("60 is outside 0-59"));
        assert!(error("cron(0 3 * 13 ? *)").contains("outside 1-12"));
        assert!(error("cron(0 3 ? * 8 *)").contains("outside 1-7"));
        assert!(error("rate(1 hours)").contains("singular for 1"));
        assert!(error("rate(0 minutes)").contains("above 0"));
        assert!(error("rate(5 weeks)").contains("minute(s), hour(s) or day(s)"));
        assert!(error("at(2027-13-01T00:00:00)").contains("at(yyyy-mm-ddThh:mm:ss)"));
        assert!(error("every day").contains("is not a schedule expression"));
        assert!(ScheduleExpression::parse("cron(0 8 ? * MON#2 *)").is_ok());
        assert!(ScheduleExpression::parse("cron(0/5 8-17 15W JAN,JUL ? 2027-2030)").is_ok());
    }
}
