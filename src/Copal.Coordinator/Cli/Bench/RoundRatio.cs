namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// The ratio of two measures timed side by side in every round: the median of the rounds' own
/// ratios. Within a round both run under the same load from other work on a shared machine, so
/// pairing them cancels it; dividing the fastest of one side by the fastest of the other would
/// pair one measure's quietest window with another's busier one.
/// </summary>
public static class RoundRatio
{
    public static double Median(IEnumerable<(double Numerator, double Denominator)> rounds)
    {
        var ratios = rounds.Select(r => r.Numerator / r.Denominator).Order().ToList();
        if (ratios.Count == 0)
        {
            throw new ArgumentException("a ratio needs at least one round", nameof(rounds));
        }

        var middle = ratios.Count / 2;
        return ratios.Count % 2 == 1 ? ratios[middle] : (ratios[middle - 1] + ratios[middle]) / 2;
    }
}
