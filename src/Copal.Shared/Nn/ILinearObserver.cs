using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Nn;

/// <summary>Sees each linear's input and output during a forward pass (calibration statistics).</summary>
public interface ILinearObserver
{
    /// <param name="input">[B, T, in], valid only during the call.</param>
    /// <param name="output">[B, T, out], valid only during the call.</param>
    void Observe(LlamaLinear linear, Tensor input, Tensor output);
}
