namespace Copal.Coordinator.Cli.Bench;

/// <summary>Mean and worst (maximum: higher is worse) of one measure over the orders.</summary>
public readonly record struct OverOrders(double Mean, double Worst)
{
    public static OverOrders Of(IEnumerable<double> values)
    {
        var list = values.ToList();
        return new OverOrders(list.Average(), list.Max());
    }
}
