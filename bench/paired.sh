# Paired ratios for the benchmark reports (sourced by bench/run.sh and bench/oci.sh).
#
# Two forms measured run by run, interleaved, give one ratio a run (A_r ÷ B_r): the drift of
# the machine from minute to minute falls on both sides of each ratio alike. A cell reports
# the median of those ratios and a 95% confidence interval for it: the sign-test (binomial)
# interval, the order statistics r_(k) and r_(n+1-k) for the largest k with
# P(Binomial(n, 1/2) ≤ k - 1) ≤ 0.025. It assumes nothing about the spread of the ratios,
# only that the runs are independent; it needs at least 6 runs (with 6 to 8 it is the
# smallest and largest ratio, at 96.9% to 99.2% confidence).
#
# A cell is judged by one of three rules:
#   parity   the two forms execute the same steps: met when the interval's upper end ≤ 1.03
#   fewer    the judged form removes work: met when the median and the interval's upper
#            end are both below 1
#   limit:L  a target set as a bound on the medians: met when the median ≤ L
# shellcheck shell=bash

PAIRED_PARITY_LIMIT=1.03

# paired_median < numbers: their median (the mean of the middle two for an even count);
# nothing at all without numbers.
paired_median() {
    sort -g | awk '{ v[++n] = $1 } END { if (n) { if (n % 2) print v[(n + 1) / 2]; else printf "%g\n", (v[n / 2] + v[n / 2 + 1]) / 2 } }'
}

# paired_divide [B_COUNT] < "RUN SIDE VALUE" lines (SIDE "A" or "B"): A ÷ B, one ratio a run,
# for the runs that have both. With B_COUNT (default 1), a run's B is the smallest of its
# B values and the run counts only when it has B_COUNT of them ("the better of two forms").
paired_divide() {
    awk -v want="${1:-1}" '
        $2 == "A" { a[$1] = $3 }
        $2 == "B" { if (!($1 in b) || $3 < b[$1]) b[$1] = $3; nb[$1]++ }
        END { for (r in a) if (nb[r] == want && b[r] > 0) printf "%.6f\n", a[r] / b[r] }'
}

# paired_stats < ratios: "MEDIAN LO HI CONFIDENCE" (LO, HI and CONFIDENCE are "-" with
# fewer than 6 ratios); nothing at all without ratios.
paired_stats() {
    sort -g | awk '
        { v[++n] = $1 }
        END {
            if (!n) exit
            med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            # P(X <= j) for X ~ Binomial(n, 1/2), j = 0, 1, ...: the largest k with
            # P(X <= k - 1) <= 0.025.
            k = 0; cdf = 0; term = 1 / 2 ^ n
            for (j = 0; j < n; j++) {
                cdf += term
                if (cdf > 0.025) break
                k = j + 1
                term = term * (n - j) / (j + 1)
            }
            if (k >= 1 && k <= n + 1 - k) {
                tail = 0; term = 1 / 2 ^ n
                for (j = 0; j < k; j++) { tail += term; term = term * (n - j) / (j + 1) }
                printf "%.4f %.4f %.4f %.1f\n", med, v[k], v[n + 1 - k], 100 * (1 - 2 * tail)
            } else {
                printf "%.4f - - -\n", med
            }
        }'
}

# paired_verdict RULE "MEDIAN LO HI CONF": "yes", "**no**" or "not judged (…)".
paired_verdict() {
    local rule="$1" med lo hi conf
    read -r med lo hi conf <<<"$2"
    [[ -n "$med" ]] || { printf 'no result'; return; }
    case "$rule" in
        limit:*)
            awk -v m="$med" -v l="${rule#limit:}" 'BEGIN { print (m <= l ? "yes" : "**no**") }' ;;
        parity | fewer)
            if [[ "$hi" == - ]]; then
                printf 'not judged (needs ≥ 6 runs)'
            elif [[ "$rule" == parity ]]; then
                awk -v h="$hi" -v l="$PAIRED_PARITY_LIMIT" 'BEGIN { print (h <= l ? "yes" : "**no**") }'
            else
                awk -v m="$med" -v h="$hi" 'BEGIN { print (m < 1 && h < 1 ? "yes" : "**no**") }'
            fi ;;
        *) printf 'unknown rule %s' "$rule" ;;
    esac
}

# paired_cell RULE < ratios: "0.97 [0.93, 1.01] yes" (the rule's name shown for parity;
# RULE "-": the figures alone).
paired_cell() {
    local rule="$1" stats med lo hi conf
    stats="$(paired_stats)"
    [[ -n "$stats" ]] || { printf '–'; return; }
    read -r med lo hi conf <<<"$stats"
    if [[ "$lo" == - ]]; then
        printf '%.2f' "$med"
    else
        printf '%.2f [%.2f, %.2f]' "$med" "$lo" "$hi"
    fi
    [[ "$rule" == - ]] && return
    printf ' %s%s' "$([[ $rule == parity ]] && printf 'parity: ')" "$(paired_verdict "$rule" "$stats")"
}
