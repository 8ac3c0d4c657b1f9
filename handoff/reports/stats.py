"""Statistics the reports share: continuous percentiles (linear interpolation, like
PostgreSQL's percentile_cont) computed in SQL on PostgreSQL, from the sorted values per group
on SQLite (it has no ordered-set aggregates), or from per-minute counts (the rollups'
response histogram); tests hold the three equal."""

from django.db.models import Aggregate, FloatField


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate percentile_cont(f) WITHIN GROUP (ORDER BY expr)."""

    function = "percentile_cont"
    output_field = FloatField()

    def __init__(self, fraction, expression, **extra):
        self.fraction = fraction
        super().__init__(expression, **extra)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"percentile_cont({float(self.fraction)!r}) WITHIN GROUP (ORDER BY {sql})", params


class Avg(Aggregate):
    function = "AVG"
    output_field = FloatField()


def percentile(sorted_values, fraction):
    """Continuous percentile of sorted values: percentile_cont's linear interpolation."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * fraction
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo))


def percentiles_by(queryset, key, value, fractions=(0.5, 0.9)):
    """{group key: [p for each fraction]} of `value` over `queryset` grouped by `key`
    (SQLite; PostgreSQL computes them in the grouped query itself, see _sla_counts)."""
    queryset = queryset.filter(**{f"{value}__isnull": False}).order_by()
    groups = {}
    for group, number in queryset.values_list(key, value).order_by(key, value):
        groups.setdefault(group, []).append(number)
    return {group: [percentile(values, f) for f in fractions] for group, values in groups.items()}


def percentile_of_counts(counts, fraction):
    """percentile_cont of a multiset given as sorted (value, count) pairs, count > 0."""
    total = sum(n for _, n in counts)
    if not total:
        return None
    k = (total - 1) * fraction
    lo = int(k)
    below, low_value, high_value = 0, None, None
    for value, n in counts:
        if low_value is None and lo < below + n:
            low_value = value
        if lo + 1 < below + n or below + n == total:
            high_value = value
            if low_value is not None:
                break
        below += n
    return float(low_value + (high_value - low_value) * (k - lo))


def rounded(number, digits=1):
    return round(number, digits) if number is not None else None
