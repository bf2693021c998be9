"""The planner's data set (``fashionm3 data build-planner``), metrics (``eval-planner``) and training."""
