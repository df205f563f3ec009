using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Nn;

/// <summary>Sees the linears' inputs and outputs during a forward pass (calibration statistics).</summary>
public interface ILinearObserver
{
    /// <summary>
    /// The linears that read one input, once all of them are computed: q/k/v, then o, then
    /// gate/up, then down (<see cref="LlamaLinear.SharedInputs"/>).
    /// </summary>
    /// <param name="input">[B, T, in], valid only during the call.</param>
    /// <param name="outputs">[B, T, out] of each linear without its bias (y = x W^T), valid only during the call.</param>
    void Observe(IReadOnlyList<LlamaLinear> linears, Tensor input, IReadOnlyList<Tensor> outputs);
}
