"""Image-quality metrics (reconstruction: MAE, MSE, PSNR, SSIM inside a mask)."""

from latentcf.metrics.reconstruction import masked_metrics, ssim_map

__all__ = ["masked_metrics", "ssim_map"]
