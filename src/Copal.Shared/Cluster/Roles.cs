namespace Copal.Cluster;

/// <summary>Cluster roles: one coordinator singleton, any number of GPU nodes.</summary>
public static class Roles
{
    public const string Coordinator = "coordinator";
    public const string GpuNode = "gpu-node";
    public const string SystemName = "copal";
    public const string NodeActorName = "node";
    public const string CoordinatorSingletonName = "coordinator";
}
