"""Model families, one package each (refimpl/models/<family>/: config.py + modeling.py); see core/model.py."""
