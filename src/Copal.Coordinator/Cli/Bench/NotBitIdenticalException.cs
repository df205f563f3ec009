namespace Copal.Coordinator.Cli.Bench;

/// <summary>Two configurations of the same stage wrote different tensors: the bench's figures compare unlike runs, and the engine has a bug.</summary>
public sealed class NotBitIdenticalException(string message) : Exception(message);
