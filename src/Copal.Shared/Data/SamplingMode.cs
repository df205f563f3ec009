namespace Copal.Data;

/// <summary>How calibration windows are drawn from a dataset's token stream (protocol: calibration sampling).</summary>
public enum SamplingMode
{
    Even,
    Random,
}
